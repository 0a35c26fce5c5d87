"""The worker under Redis faults, against the real Redis: connections killed mid-batch and idle
(CLIENT KILL from a second connection), Redis down at start; and its HTTP endpoint and logs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from gavel.engine.evaluator import EvalItem
from gavel.engine.results import EvaluationResult
from gavel.intake import Evaluates
from gavel.runtime import Runtime
from gavel.settings import Settings
from gavel.stream.worker import StreamWorker, WorkerConfig
from gavel.stream.worker_http import WorkerHttp
from gavel.stream.worker_main import redis_client, serve_worker
from tests.conftest import ROOT


async def _poll(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _kill_worker_connections(admin: aioredis.Redis, name: str) -> int:
    clients: Any = await admin.client_list()
    killed = 0
    for c in clients:
        if c.get("name") == name:
            await admin.execute_command("CLIENT", "KILL", "ID", c["id"])
            killed += 1
    return killed


class _KillOnce:
    """Evaluates, but the first time it sees `trigger` it kills the worker's Redis connections
    first: the batch in hand must then be written after a reconnect, exactly once."""

    def __init__(self, base: Evaluates, admin: aioredis.Redis, name: str, trigger: str) -> None:
        self.base, self.admin, self.name, self.trigger = base, admin, name, trigger
        self.killed = 0

    def select(self, policy_ids: Sequence[str] | None) -> Sequence[object]:
        return self.base.select(policy_ids)

    async def evaluate(self, text: str, policy_ids: Any = None, context: Any = None,
                       item_id: str | None = None) -> EvaluationResult:
        return await self.base.evaluate(text, policy_ids, context, item_id)

    async def evaluate_many(self, items: Sequence[EvalItem], policy_ids: Any = None) -> list[EvaluationResult]:
        if not self.killed and any(i.text == self.trigger for i in items):
            self.killed = await _kill_worker_connections(self.admin, self.name)
        return await self.base.evaluate_many(items, policy_ids)


async def test_client_kill_mid_batch_and_idle_loses_and_duplicates_nothing(
    aredis: aioredis.Redis, prefix: str, redis_url: str, demo_runtime: Runtime
) -> None:
    settings = Settings(redis_url=redis_url)
    client = redis_client(settings, "killme")
    evaluator = _KillOnce(demo_runtime.evaluator, aredis, "gavel-worker:killme", "kill switch")
    config = WorkerConfig(input_stream=f"{prefix}posts", output_stream=f"{prefix}verdicts",
                          dead_stream=f"{prefix}dead", group="g", consumer="killme", batch=8, block_ms=50,
                          reclaim_idle_ms=60_000, retry_max_s=0.2)
    worker = StreamWorker(config, evaluator, client)
    posts = [{"id": f"p{i}", "text": "kill switch" if i == 5 else "hello"} for i in range(20)]
    for p in posts:
        await aredis.xadd(f"{prefix}posts", p)  # type: ignore[arg-type]
    task = asyncio.create_task(worker.run())

    async def answered(n: int) -> bool:
        assert not task.done(), task
        return int(await aredis.xlen(f"{prefix}verdicts")) >= n

    try:
        await _poll(lambda: answered(20), 20, "the first 20 answers")
        assert evaluator.killed >= 1, "the connection was never killed"
        # idle: killed while it blocks in XREADGROUP, then more posts arrive
        await _poll(lambda: _killed_while_idle(aredis), 5, "an idle kill")
        for i in range(20, 30):
            await aredis.xadd(f"{prefix}posts", {"id": f"p{i}", "text": "hello"})
        await _poll(lambda: answered(30), 20, "the answers after the idle kill")
    finally:
        worker.stop.set()
        await asyncio.wait_for(task, 10)
        await client.aclose()
    got = Counter(f[b"id"].decode() for _, f in await aredis.xrange(f"{prefix}verdicts"))
    assert set(got) == {f"p{i}" for i in range(30)}
    assert max(got.values()) == 1, f"duplicates: {[k for k, v in got.items() if v > 1]}"
    assert (await aredis.xpending(f"{prefix}posts", "g"))["pending"] == 0
    assert worker.metrics.redis_disconnects._value.get() >= 2  # mid-batch and idle


async def _killed_while_idle(admin: aioredis.Redis) -> bool:
    return await _kill_worker_connections(admin, "gavel-worker:killme") > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_http_endpoint_heartbeat_readiness_and_metrics(
    aredis: aioredis.Redis, prefix: str, redis_url: str, demo_settings: Settings
) -> None:
    """/healthz follows the loop's heartbeat (a stuck loop answers 503), /readyz Redis and the
    policies, /metrics the registry the worker counts on."""
    release = asyncio.Event()
    stuck = asyncio.Event()

    settings = demo_settings.model_copy(update={
        "redis_url": redis_url, "input_stream": f"{prefix}posts", "output_stream": f"{prefix}verdicts",
        "dead_stream": f"{prefix}dead", "consumer_group": "g", "consumer_name": "web", "worker_block_ms": 50,
        "worker_http_host": "127.0.0.1", "worker_http_port": 0, "worker_heartbeat_stale_s": 0.3,
        "history_backend": "none"})
    stop = asyncio.Event()
    up: list[tuple[StreamWorker, WorkerHttp | None]] = []
    task = asyncio.create_task(serve_worker(settings, stop=stop, on_ready=lambda w, h: up.append((w, h))))
    await _poll(lambda: _true(bool(up)), 20, "the worker to start")
    worker, http = up[0]
    assert http is not None
    real = worker.evaluator

    class Hang:
        def select(self, ids: Any) -> Any:
            return real.select(ids)

        async def evaluate(self, *a: Any, **k: Any) -> Any:
            return await real.evaluate(*a, **k)

        async def evaluate_many(self, items: Any, ids: Any = None) -> Any:
            stuck.set()
            await release.wait()
            return await real.evaluate_many(items, ids)

    base = f"http://127.0.0.1:{http.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as web:
            await _poll(lambda: _status(web, "/readyz", 200), 10, "ready")
            assert (await web.get("/healthz")).status_code == 200
            await aredis.xadd(f"{prefix}posts", {"id": "a", "text": "you idiot"})
            await _poll(lambda: _true(worker.stats.evaluated == 1), 10, "the first post")
            metrics = (await web.get("/metrics")).text
            assert 'gavel_stream_entries_total{outcome="ok"} 1.0' in metrics
            assert "gavel_worker_redis_connected 1.0" in metrics
            worker.evaluator = Hang()
            await aredis.xadd(f"{prefix}posts", {"id": "b", "text": "hello"})
            await asyncio.wait_for(stuck.wait(), 10)
            await _poll(lambda: _status(web, "/healthz", 503), 5, "a stale heartbeat")
            assert (await web.get("/healthz")).json()["status"] == "stale"
            release.set()
            await _poll(lambda: _status(web, "/healthz", 200), 5, "a fresh heartbeat")
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, 10)


async def _true(value: bool) -> bool:
    return value


async def _status(web: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await web.get(path)).status_code == status


@pytest.mark.slow
def test_redis_down_at_start_then_up(tmp_path: Path, demo_policy_dir: Path, redis_url: str) -> None:
    """A worker process started while Redis is down stays up, not ready, logging (JSON) and
    counting each attempt; when Redis comes up it gets ready and works."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed here")
    redis_port, http_port = _free_port(), _free_port()
    log = (tmp_path / "worker.log").open("wb")
    env = {**os.environ, "GAVEL_LOG_JSON": "true", "GAVEL_LOG_LEVEL": "INFO", "GAVEL_REDIS_RETRY_MAX_S": "0.3",
           "GAVEL_WORKER_HTTP_HOST": "127.0.0.1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "gavel.cli", "worker", "--redis", f"redis://127.0.0.1:{redis_port}/0",
         "--http-port", str(http_port), "--policy-dir", str(demo_policy_dir), "--models", "", "--history", "none",
         "--consumer", "late", "--block-ms", "100"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    redis_proc: subprocess.Popen[bytes] | None = None
    try:
        def get(path: str) -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{http_port}{path}", timeout=2)
            except httpx.TransportError:
                return None

        def wait(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
            deadline = time.monotonic() + timeout
            while not check():
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.05)

        def reconnects() -> float:
            r = get("/metrics")
            for line in (r.text if r is not None else "").splitlines():
                if line.startswith("gavel_worker_redis_reconnects_total "):
                    return float(line.split()[1])
            return 0.0

        wait(lambda: reconnects() >= 3, "three failed attempts")
        ready = get("/readyz")
        assert ready is not None and ready.status_code == 503 and "disconnected" in ready.json()["redis"]
        health = get("/healthz")
        assert health is not None and health.status_code == 200
        redis_proc = subprocess.Popen([server, "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait(lambda: (r := get("/readyz")) is not None and r.status_code == 200, "ready once Redis is up")
        client = redis.Redis(port=redis_port)
        client.xadd("gavel:posts", {"id": "late-1", "text": "you idiot"})
        wait(lambda: client.xlen("gavel:verdicts") == 1, "the post's answer")
        client.close()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
    finally:
        for proc in (worker, redis_proc):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
    lines = (tmp_path / "worker.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is a JSON log record
    assert any("Redis unreachable (attempt" in r["msg"] for r in records)
    assert any(r["msg"].startswith("connected to Redis") for r in records)
    assert not any("\x1b[" in line for line in lines)
