"""HTTP /evaluate under load: `gavel serve --workers 2` with rules-only policies (GAVEL_MODELS="")
on loopback, driven by an asyncio keep-alive HTTP/1.1 load generator in this process.

    python bench/http_load.py [--seconds 8] [--connections 32] [--rate 2000] [--workers 2]

Two runs: closed loop (every connection sends its next request as soon as the answer is in:
the most the server does) and open loop at --rate requests/s (requests leave on a schedule,
so latency is what a client at that rate sees, queueing included). Latency is measured from
just before the request is written to the last byte of the answer.

The generator is a bare asyncio client (pre-built request bytes, Content-Length framing) so
that it costs the server as little CPU as possible: on a 2-core machine it shares the cores with
the two server workers. Loopback only, bounded by time and by request count.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"  # loopback only: this never sends to another machine
TRIAL_CSV = ROOT.parent / "shared" / "data" / "toxic_spans" / "tsd_trial.csv"
GENERATED = [
    "Jews are vermin and should be eliminated",
    "Muslims are a cancer on this country",
    "the final solution is the only answer for them",
    "you are a worthless idiot, shut up",
    "Lovely weather in Lisbon today, off to the beach with the kids",
    "The council meeting about the new bike lanes is on Thursday at 7pm",
    "Reuters reported that the letter asked Twitter to remove the account.",
    "I disagree with the new policy but respect the outcome of the vote",
]


def corpus(n: int) -> tuple[list[str], str]:
    """SemEval trial posts read in place (never copied) mixed half and half with generated ones."""
    trial: list[str] = []
    if TRIAL_CSV.is_file():
        with TRIAL_CSV.open(newline="", encoding="utf-8") as fh:
            trial = [row["text"] for row in csv.DictReader(fh) if row.get("text")]
    out = [trial[i % len(trial)] if trial and i % 2 else f"{GENERATED[i % len(GENERATED)]} #{i}" for i in range(n)]
    return out, (f"{len(trial)} SemEval trial posts + generated" if trial else "generated posts")


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    def add(self, status: int, ms: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies_ms.append(ms)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _requests(texts: list[str], port: int) -> list[bytes]:
    out = []
    for i, text in enumerate(texts):
        body = json.dumps({"text": text, "id": str(i)}).encode()
        head = (
            f"POST /evaluate HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> int:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(request)
        await self.writer.drain()
        return await _read_response(self.reader)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def closed_loop(
    reqs: list[bytes], port: int, connections: int, seconds: float, limit: int
) -> tuple[Tally, float]:
    tally = Tally()
    deadline = time.perf_counter() + seconds
    sent = 0

    async def one(conn: Connection) -> None:
        nonlocal sent
        while time.perf_counter() < deadline and sent < limit:
            req = reqs[sent % len(reqs)]
            sent += 1
            t0 = time.perf_counter()
            try:
                status = await conn.send(req)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                tally.errors += 1
                conn.close()
                continue
            tally.add(status, (time.perf_counter() - t0) * 1000)
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(one(Connection(port)) for _ in range(connections)))
    return tally, time.perf_counter() - start


async def open_loop(
    reqs: list[bytes], port: int, connections: int, seconds: float, rate: float
) -> tuple[Tally, float, int]:
    """Requests leave every 1/rate s; a request waits for a free connection (counted in its latency)."""
    tally = Tally()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(port))
    total = int(seconds * rate)
    start = time.perf_counter()
    late = 0

    async def one(i: int, due: float) -> None:
        conn = await pool.get()
        try:
            status = await conn.send(reqs[i % len(reqs)])
            tally.add(status, (time.perf_counter() - due) * 1000)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tally.errors += 1
            conn.close()
        finally:
            pool.put_nowait(conn)

    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late += 1  # the generator itself fell behind the schedule
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return tally, time.perf_counter() - start, late


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GAVEL_MODELS="", GAVEL_POLICY_DIR=str(ROOT / "policies"), GAVEL_LOG_LEVEL="WARNING")
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"server exited with {proc.returncode}:\n{err}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not become ready in 60 s")


def row(name: str, tally: Tally, elapsed: float) -> str:
    n = len(tally.latencies_ms)
    ok = sum(c for s, c in tally.statuses.items() if 200 <= s < 300)
    lat = tally.latencies_ms
    return (
        f"| {name} | {n:,} | {ok / n * 100 if n else 0:.1f}% | {n / elapsed:,.0f} | {pct(lat, 0.5):.2f} | "
        f"{pct(lat, 0.95):.2f} | {pct(lat, 0.99):.2f} | {max(lat, default=float('nan')):.2f} | {tally.errors} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rate", type=float, default=2000.0, help="requests/s of the open-loop run")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--max-requests", type=int, default=200_000, help="upper bound per run")
    args = ap.parse_args()

    texts, source = corpus(2000)
    random.Random(1).shuffle(texts)
    port = _free_port()
    proc = start_server(port, args.workers)
    try:
        reqs = _requests(texts, port)

        async def run() -> None:
            await closed_loop(reqs, port, 4, 1.0, 2000)  # warm-up: imports, first compiles, pools
            print(f"server: gavel serve --workers {args.workers}, GAVEL_MODELS='' (default policies, rules only)")
            print(f"corpus: {source}; {os.cpu_count()} cores shared by the server and this generator\n")
            print("| run | requests | 2xx | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |")
            print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
            tally, elapsed = await closed_loop(reqs, port, args.connections, args.seconds, args.max_requests)
            print(row(f"closed loop, {args.connections} connections", tally, elapsed))
            tally, elapsed, late = await open_loop(reqs, port, args.connections, args.seconds, args.rate)
            print(row(f"open loop at {args.rate:,.0f} req/s", tally, elapsed))
            if late:
                print(f"\n(the generator left {late} requests more than 5 ms late: the machine is saturated)")

        asyncio.run(run())
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
