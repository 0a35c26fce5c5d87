"""Stream benchmark: posts/s through Redis with one and two `gavel worker` processes, end-to-end
latency percentiles, against the in-process evaluation rate measured in the same run.

    python bench/stream.py --redis redis://127.0.0.1:6379/0 --posts 5000

Latency is measured by Redis' own clock: the verdict entry's id time minus the post entry's id
time (ms resolution), so it covers queueing, reading, evaluating and writing. "burst" pushes every
post at once (throughput; latency then includes the backlog); "paced" pushes at half the burst
rate (latency of a worker that keeps up).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gavel.engine.evaluator import EvalItem  # noqa: E402
from gavel.runtime import build_runtime  # noqa: E402
from gavel.settings import Settings  # noqa: E402

TEXTS = [
    "those people are vermin and should be eliminated",
    "you are an idiot, nobody wants you here",
    "lovely weather in Lisbon today, off to the beach",
    "the final solution is the only way for them",
    "I disagree with the new policy but respect the vote",
    "go back to where you came from",
]


@dataclass
class Row:
    name: str
    posts: int
    rate: float
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


def _ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


def _entries(client: redis.Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    reply: Any = client.xrange(stream)
    return [(eid, fields) for eid, fields in reply]


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(int(q * len(ordered)), len(ordered) - 1)])


def in_process(n: int, policy_dir: Path, models: str, batch: int) -> float:
    runtime = build_runtime(Settings(policy_dir=policy_dir, models=models), load_models=bool(models))
    items = [EvalItem(TEXTS[i % len(TEXTS)] + f" #{i}", str(i)) for i in range(n)]

    async def run() -> float:
        hub = runtime.hub
        if hub is not None and hasattr(hub, "start"):
            await hub.start()
        started = time.perf_counter()
        for k in range(0, n, batch):
            await runtime.evaluator.evaluate_many(items[k : k + batch])
        elapsed = time.perf_counter() - started
        if hub is not None and hasattr(hub, "close"):
            await hub.close()
        return n / elapsed

    return asyncio.run(run())


def through_redis(args: argparse.Namespace, workers: int, paced_rate: float | None) -> Row:
    client = redis.Redis.from_url(args.redis)
    prefix = f"gavel-bench:{uuid.uuid4().hex[:8]}:"
    posts, out = f"{prefix}posts", f"{prefix}verdicts"
    client.xgroup_create(posts, "g", id="0", mkstream=True)
    procs = []
    for w in range(workers):
        cmd = [
            sys.executable,
            "-m",
            "gavel.stream.worker_main",
            "--http-port",
            "-1",  # several workers on one machine: no endpoint (it would be one port for all)
            "--redis",
            args.redis,
            "--input",
            posts,
            "--output",
            out,
            "--dead",
            f"{prefix}dead",
            "--group",
            "g",
            "--consumer",
            f"w{w}",
            "--policy-dir",
            str(args.policy_dir),
            "--models",
            args.models,
            "--history",
            "none",
            "--batch",
            str(args.batch),
            "--block-ms",
            "100",
        ]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "GAVEL_LOG_LEVEL": "WARNING"}))
    try:
        deadline = time.monotonic() + 120
        while len(client.xinfo_consumers(posts, "g")) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("the workers did not start")
            time.sleep(0.05)
        n = args.posts if paced_rate is None else max(int(paced_rate * args.paced_seconds), 100)
        started = time.perf_counter()
        chunk = 100 if paced_rate is None else max(int(paced_rate / 50), 1)  # paced: 50 pushes a second
        for k in range(0, n, chunk):
            pipe = client.pipeline(transaction=False)
            for i in range(k, min(k + chunk, n)):
                pipe.xadd(posts, {"id": str(i), "text": TEXTS[i % len(TEXTS)] + f" #{i}"})
            pipe.execute()
            if paced_rate is not None:
                ahead = started + (k + chunk) / paced_rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
        while client.xlen(out) < n:
            if time.monotonic() > deadline + 600 or any(p.poll() is not None for p in procs):
                raise SystemExit("the workers did not finish")
            time.sleep(0.01)
        sent = {eid: _ms(eid) for eid, _ in _entries(client, posts)}
        results = _entries(client, out)
        latencies = [_ms(oid) - sent[f[b"entry"]] for oid, f in results]
        first_in = min(sent.values())
        last_out = max(_ms(oid) for oid, _ in results)
        mode = "burst" if paced_rate is None else f"paced {paced_rate:.0f}/s"
        return Row(
            f"{workers} worker{'s' if workers > 1 else ''}, {mode}",
            n,
            n / max((last_out - first_in) / 1000, 1e-3),
            _pct(latencies, 0.50),
            _pct(latencies, 0.95),
            _pct(latencies, 0.99),
        )
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default=os.environ.get("GAVEL_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--posts", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--paced-seconds", type=float, default=3.0)
    parser.add_argument("--policy-dir", type=Path, default=ROOT / "policies")
    parser.add_argument("--models", default="", help="models the workers load ('' = rules only)")
    args = parser.parse_args()

    local = in_process(args.posts, args.policy_dir, args.models, args.batch)
    rows = [Row("in-process evaluate_many", args.posts, local)]
    for workers in (1, 2):
        burst = through_redis(args, workers, None)
        rows.append(burst)
        rows.append(through_redis(args, workers, burst.rate / 2))

    print(
        f"\npolicies: {args.policy_dir}  models: {args.models or 'none'}  batch: {args.batch}  cpus: {os.cpu_count()}\n"
    )
    print(
        f"| {'run':<28} | {'posts':>6} | {'posts/s':>8} | {'vs in-process':>13} | "
        f"{'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} |"
    )
    print(f"|{'-' * 30}|{'-' * 7}:|{'-' * 9}:|{'-' * 14}:|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|")
    for r in rows:
        lat = [f"{v:7.0f}" if v is not None else f"{'-':>7}" for v in (r.p50, r.p95, r.p99)]
        print(
            f"| {r.name:<28} | {r.posts:>6} | {r.rate:>8.0f} | {r.rate / local:>12.2f}x | "
            f"{lat[0]} | {lat[1]} | {lat[2]} |"
        )


if __name__ == "__main__":
    main()
