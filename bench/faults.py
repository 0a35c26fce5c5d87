"""Fault drills for issue 12 items 1-3, against the real PostgreSQL and Redis on this host; prints
one table of records lost (the goal is 0 everywhere).

    python bench/faults.py [--rate 200] [--seconds 10] [--skip-worker]

1. worker: Redis connection killed (CLIENT KILL) mid-stream: posts with no verdict entry
2. NUL:    concurrent /evaluate calls on a PostgreSQL store, two with a NUL in the id or author:
           records of the other posts lost
3a. outage: the store's PostgreSQL cut (a TCP proxy in front of it) while posts arrive, then
           restored: records lost
3b. SIGKILL: `gavel serve` killed with SIGKILL half-way through --seconds at --rate req/s, then
           started again on the same spool: records of answered posts lost (also without a spool,
           to show what the spool saves)

Only 127.0.0.1 is contacted; each drill uses its own PostgreSQL schema, Redis keys and spool
directory, and removes them. Servers and workers are stopped by the script.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.stream.tcp_proxy import TcpProxy  # noqa: E402

POSTGRES = os.environ.get("GAVEL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("GAVEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEXTS = ["you are an idiot", "hello there, nice weather", "the food in Tel Aviv was amazing"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], object], what: str, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            if condition():
                return
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def pg_schema() -> Iterator[str]:
    schema = f"gavel_faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def store_url(schema: str, port: int | None = None) -> str:
    base = POSTGRES if port is None else POSTGRES.replace(":5432/", f":{port}/")
    return f"{base}?options={quote(f'-c search_path={schema}')}"


def stored(schema: str) -> tuple[set[str], int]:
    """Post ids in the store, and the number of dead letters."""
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"SET search_path = {schema}")
        ids = {r[0] for r in conn.execute("SELECT id FROM decisions")}
        dead = conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
    return ids, int(dead[0]) if dead else 0


class Server:
    def __init__(self, url: str, spool: Path | None) -> None:
        self.port = free_port()
        env = {**os.environ, "GAVEL_MODELS": "", "GAVEL_LOG_LEVEL": "WARNING", "GAVEL_STORE_URL": url,
               "GAVEL_STORE_SPOOL_DIR": str(spool) if spool else "", "GAVEL_POLICY_DIR": str(ROOT / "policies"),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "service"), *sys.path])}
        self.proc = subprocess.Popen([sys.executable, "-m", "gavel.cli", "serve", "--port", str(self.port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for(lambda: httpx.get(f"{self.base}/healthz").status_code == 200, "the server to start")

    def spooled(self) -> int | None:
        body = httpx.get(f"{self.base}/readyz").json()
        return int(body.get("store", {}).get("spooled") or 0)

    def drained(self) -> bool:
        body = httpx.get(f"{self.base}/readyz").json()
        # without a spool there is nothing to wait for; with one, the database took everything
        return body.get("store", {}).get("state") != "unavailable" and not body["store"].get("spooled")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


async def post_all(base: str, bodies: list[dict[str, object]], rate: float | None = None,
                   stop_after_s: float | None = None) -> set[str]:
    """POST each body (at `rate` per second when given); returns the ids answered 200."""
    answered: set[str] = set()
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:
        start = time.monotonic()

        async def one(body: dict[str, object]) -> None:
            try:
                r = await client.post("/evaluate", json=body)
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                answered.add(str(body["id"]))

        tasks = []
        for i, body in enumerate(bodies):
            if rate:
                await asyncio.sleep(max(start + i / rate - time.monotonic(), 0))
            if stop_after_s is not None and time.monotonic() - start > stop_after_s:
                break
            tasks.append(asyncio.create_task(one(body)))
            if not rate and len(tasks) % 16 == 0:
                await asyncio.gather(*tasks[-16:])
        await asyncio.gather(*tasks, return_exceptions=True)
    return answered


def bodies(prefix: str, n: int) -> list[dict[str, object]]:
    return [{"id": f"{prefix}{i}", "text": TEXTS[i % len(TEXTS)], "context": {"author_id": f"a{i % 17}"}}
            for i in range(n)]


# --- the drills --------------------------------------------------------------------------------


def drill_nul(n: int) -> tuple[str, int, int, str]:
    with pg_schema() as schema, tempfile.TemporaryDirectory() as spool:
        server = Server(store_url(schema), Path(spool))
        try:
            posts = bodies("n", n)
            posts[n // 3] = {"id": "bad\x00id", "text": TEXTS[0]}
            posts[2 * n // 3] = {"id": "badauthor", "text": TEXTS[0], "context": {"author_id": "a\x00b"}}
            answered = asyncio.run(post_all(server.base, posts))
            wait_for(server.drained, "the spool to drain")
        finally:
            server.stop()
        ids, dead = stored(schema)
        others = {str(p["id"]) for p in posts} - {"bad\x00id", "badauthor"}
        lost = len((others & answered) - ids)
        return "2 NUL among concurrent posts (PostgreSQL)", len(answered), lost, f"{dead} dead-lettered"


def drill_outage(n: int) -> tuple[str, int, int, str]:
    with pg_schema() as schema, tempfile.TemporaryDirectory() as spool:
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.up()
        server = Server(store_url(schema, proxy.port), Path(spool))
        try:
            answered = asyncio.run(post_all(server.base, bodies("o", n)))
            proxy.down()
            answered |= asyncio.run(post_all(server.base, bodies("p", n)))
            wait_for(lambda: (server.spooled() or 0) >= n, "the outage's records to be spooled")
            ready = httpx.get(f"{server.base}/readyz").json()
            status = f"{ready['status']}, store {ready['store']['state']}"
            proxy.up()
            wait_for(server.drained, "the spool to drain after the outage")
        finally:
            server.stop()
            proxy.down()
        ids, _ = stored(schema)
        return "store outage, then back (spool)", len(answered), len(answered - ids), f"/readyz said {status}"


def drill_sigkill(rate: float, seconds: float, spool_on: bool) -> tuple[str, int, int, str]:
    with pg_schema() as schema, tempfile.TemporaryDirectory() as spool:
        spool_dir = Path(spool) if spool_on else None
        server = Server(store_url(schema), spool_dir)
        posts = bodies("k", int(rate * seconds))

        async def load_then_kill() -> set[str]:
            task = asyncio.create_task(post_all(server.base, posts, rate=rate, stop_after_s=seconds))
            await asyncio.sleep(seconds / 2)
            server.proc.send_signal(signal.SIGKILL)
            return await task

        answered = asyncio.run(load_then_kill())
        server.proc.wait(30)
        again = Server(store_url(schema), spool_dir)  # the next start ships what the spool kept
        try:
            wait_for(again.drained, "the spool to drain after the restart")
        finally:
            again.stop()
        ids, _ = stored(schema)
        what = f"SIGKILL at {rate:.0f} req/s, {'with' if spool_on else 'without'} spool"
        return what, len(answered), len(answered - ids), "answered posts without a record"


def drill_worker(n: int) -> tuple[str, int, int, str]:
    """Issue 12.1 (the worker's reconnect is built in the worker): posts without a verdict after
    the worker's Redis connections are killed mid-stream."""
    import psutil
    import redis

    client = redis.Redis.from_url(REDIS)
    prefix = f"gavel-faults:{uuid.uuid4().hex[:8]}:"
    env = {**os.environ, "GAVEL_LOG_LEVEL": "WARNING", "GAVEL_POLICY_DIR": str(ROOT / "policies"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "service"), *sys.path])}
    cmd = [sys.executable, "-m", "gavel.cli", "worker", "--redis", REDIS, "--input", f"{prefix}posts",
           "--output", f"{prefix}verdicts", "--dead", f"{prefix}dead", "--group", "g", "--models", "",
           "--history", "none"]
    for i in range(n):
        client.xadd(f"{prefix}posts", {"id": f"w{i}", "text": TEXTS[i % len(TEXTS)]})
    worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: client.xlen(f"{prefix}verdicts") > 0, "the worker's first verdicts")
        ports = {c.laddr.port for c in psutil.Process(worker.pid).net_connections("tcp") if c.raddr
                 and c.raddr.port == 6379}
        for port in ports:
            client.execute_command("CLIENT", "KILL", "ADDR", f"127.0.0.1:{port}")
        for i in range(n, 2 * n):
            client.xadd(f"{prefix}posts", {"id": f"w{i}", "text": TEXTS[i % len(TEXTS)]})
        with suppress(SystemExit):
            wait_for(lambda: client.xlen(f"{prefix}verdicts") + client.xlen(f"{prefix}dead") >= 2 * n
                     or worker.poll() is not None, "the worker to finish", 60)
        alive = worker.poll() is None
        verdicts = {f[b"id"].decode() for _, f in client.xrange(f"{prefix}verdicts")}
        lost = 2 * n - len(verdicts)
        note = "worker alive" if alive else f"worker exited {worker.returncode}"
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(30)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    return "worker: Redis CLIENT KILL mid-stream", 2 * n, lost, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--posts", type=int, default=500, help="posts per drill (NUL, outage, worker)")
    parser.add_argument("--skip-worker", action="store_true")
    args = parser.parse_args()
    drills: list[Callable[[], tuple[str, int, int, str]]] = [
        lambda: drill_nul(args.posts),
        lambda: drill_outage(args.posts),
        lambda: drill_sigkill(args.rate, args.seconds, spool_on=True),
        lambda: drill_sigkill(args.rate, args.seconds, spool_on=False),
    ]
    if not args.skip_worker:
        drills.insert(0, lambda: drill_worker(args.posts))
    print(f"| {'drill':<44} | {'posts':>6} | {'lost':>5} | note", flush=True)
    print(f"|{'-' * 46}|{'-' * 8}:|{'-' * 6}:|------", flush=True)
    for drill in drills:
        try:
            what, posts, lost, note = drill()
        except SystemExit as exc:  # one drill that times out does not hide the others
            print(f"| {'(failed)':<44} | {'':>6} | {'':>5} | {exc}", flush=True)
            continue
        print(f"| {what:<44} | {posts:>6} | {lost:>5} | {note}", flush=True)


if __name__ == "__main__":
    main()
