"""The Redis Streams worker against a real Redis: nothing lost when a worker is killed, poison
entries dead-lettered, load shared by a group, a graceful stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from gavel.engine.evaluator import Evaluator
from gavel.engine.results import EvaluationResult
from gavel.runtime import Runtime
from gavel.stream.worker import StreamWorker, WorkerConfig
from tests.conftest import ROOT

TEXTS = ["we will kill all muslims", "you idiot", "hello there", "nice weather today"]


Entries = list[tuple[bytes, dict[bytes, bytes]]]


async def _axrange(client: aioredis.Redis, stream: str) -> Entries:
    reply: Any = await client.xrange(stream)  # redis-py types replies loosely
    return list(reply)


def _xrange(client: redis.Redis, stream: str) -> Entries:
    reply: Any = client.xrange(stream)
    return list(reply)


def _config(prefix: str, **kw: Any) -> WorkerConfig:
    base: dict[str, Any] = {"input_stream": f"{prefix}posts", "output_stream": f"{prefix}verdicts",
                            "dead_stream": f"{prefix}dead", "group": "g", "consumer": "c1", "batch": 16,
                            "block_ms": 50, "reclaim_idle_ms": 50, "max_deliveries": 3}
    base.update(kw)
    return WorkerConfig(**base)


async def _run_until(worker: StreamWorker, done: Callable[[], Any], timeout: float = 20) -> None:
    task = asyncio.create_task(worker.run())
    deadline = time.monotonic() + timeout
    try:
        while not await done():
            assert time.monotonic() < deadline, "the worker did not finish in time"
            assert not task.done(), task.exception() if task.done() else None
            await asyncio.sleep(0.05)
    finally:
        worker.stop.set()
        await asyncio.wait_for(task, 5)


async def _push(client: aioredis.Redis, stream: str, entries: list[dict[str, str]]) -> None:
    pipe = client.pipeline(transaction=False)
    for fields in entries:
        pipe.xadd(stream, fields)  # type: ignore[arg-type]
    await pipe.execute()


async def test_results_are_the_evaluate_answer(aredis: aioredis.Redis, prefix: str, demo_runtime: Runtime) -> None:
    posts = [{"id": f"p{i}", "text": TEXTS[i % 4], "context": json.dumps({"lang": "en"})} for i in range(40)]
    await _push(aredis, f"{prefix}posts", posts)
    worker = StreamWorker(_config(prefix), demo_runtime.evaluator, aredis)
    await _run_until(worker, lambda: _xlen_at_least(aredis, f"{prefix}verdicts", 40))
    out = await _axrange(aredis, f"{prefix}verdicts")
    assert [f[b"id"].decode() for _, f in out] == [p["id"] for p in posts]
    first = EvaluationResult.model_validate_json(out[0][1][b"result"])
    expected = await demo_runtime.evaluator.evaluate(TEXTS[0], context={"lang": "en"}, item_id="p0")
    assert first.model_dump(exclude={"timing_ms"}) == expected.model_dump(exclude={"timing_ms"})
    pending = await aredis.xpending(f"{prefix}posts", "g")
    assert pending["pending"] == 0


async def _xlen_at_least(client: aioredis.Redis, stream: str, n: int) -> bool:
    return int(await client.xlen(stream)) >= n


async def test_poison_entries_reach_the_dead_letter_stream(aredis: aioredis.Redis, prefix: str,
                                                           demo_runtime: Runtime) -> None:
    posts = [
        {"id": "ok1", "text": "hello"},
        {"id": "no-text"},
        {"id": "bad-json", "text": "hi", "context": "{not json"},
        {"id": "not-object", "text": "hi", "context": "[1]"},
        {"id": "too-long", "text": "x" * 20_000},
        {"id": "bad-policy", "text": "hi", "policies": "nope"},
        {"id": "ok2", "text": "you idiot", "policies": '["demo"]'},
    ]
    await _push(aredis, f"{prefix}posts", posts)
    worker = StreamWorker(_config(prefix), demo_runtime.evaluator, aredis)
    await _run_until(worker, lambda: _xlen_at_least(aredis, f"{prefix}dead", 5))
    dead = {f[b"id"].decode(): f for _, f in await _axrange(aredis, f"{prefix}dead")}
    assert set(dead) == {"no-text", "bad-json", "not-object", "too-long", "bad-policy"}
    assert b"missing field 'text'" in dead["no-text"][b"reason"]
    assert b"context: not valid JSON" in dead["bad-json"][b"reason"]
    assert b"text: 20000 characters is over the limit of 10000" in dead["too-long"][b"reason"]
    assert b"unknown policy" in dead["bad-policy"][b"reason"]
    assert json.loads(dead["bad-json"][b"fields"])["context"] == "{not json"
    ok = [f[b"id"] for _, f in await _axrange(aredis, f"{prefix}verdicts")]
    assert ok == [b"ok1", b"ok2"]
    assert (await aredis.xpending(f"{prefix}posts", "g"))["pending"] == 0


class _Flaky(Evaluator):
    """Fails on 'boom' (as a crashing model would): the entry is retried, then dead-lettered."""

    def __init__(self, base: Evaluator) -> None:
        super().__init__(base.registry, base.hub, base.max_text_chars)
        self.base = base

    async def evaluate_many(self, items: Any, policy_ids: Any = None) -> list[EvaluationResult]:
        for item in items:
            if item.text == "boom":
                raise RuntimeError("the model crashed")
        return await self.base.evaluate_many(items, policy_ids)


async def test_a_failing_entry_is_retried_then_dead_lettered(aredis: aioredis.Redis, prefix: str,
                                                             demo_runtime: Runtime) -> None:
    await _push(aredis, f"{prefix}posts", [{"id": "a", "text": "hello"}, {"id": "b", "text": "boom"}])
    flaky = _Flaky(demo_runtime.evaluator)
    worker = StreamWorker(_config(prefix), flaky, aredis)
    await _run_until(worker, lambda: _xlen_at_least(aredis, f"{prefix}dead", 1))
    (_, dead), = await _axrange(aredis, f"{prefix}dead")
    assert dead[b"id"] == b"b" and dead[b"deliveries"] == b"3"
    assert b"failed 3 times" in dead[b"reason"] and b"the model crashed" in dead[b"reason"]
    assert [f[b"id"] for _, f in await _axrange(aredis, f"{prefix}verdicts")] == [b"a"]
    assert worker.stats.retried == 2


async def test_an_entry_workers_keep_dying_on_is_dead_lettered(aredis: aioredis.Redis, prefix: str,
                                                               demo_runtime: Runtime) -> None:
    stream = f"{prefix}posts"
    await aredis.xgroup_create(stream, "g", id="0", mkstream=True)
    await aredis.xadd(stream, {"id": "killer", "text": "hello"})
    await aredis.xreadgroup("g", "ghost", {stream: ">"})  # delivered to a consumer that then died...
    entry_id = (await _axrange(aredis, stream))[0][0]
    for _ in range(2):  # ...twice more
        await aredis.xclaim(stream, "g", "ghost", 0, [entry_id])
    # XAUTOCLAIM takes it over once idle for reclaim_idle_ms (50 ms): wait until it is that idle
    deadline = time.monotonic() + 5
    while (await aredis.xpending_range(stream, "g", "-", "+", 1))[0]["time_since_delivered"] < 60:
        assert time.monotonic() < deadline, "the entry never became idle"
        await asyncio.sleep(0.01)
    worker = StreamWorker(_config(prefix), demo_runtime.evaluator, aredis)
    await _run_until(worker, lambda: _xlen_at_least(aredis, f"{prefix}dead", 1))
    (_, dead), = await _axrange(aredis, f"{prefix}dead")
    assert dead[b"id"] == b"killer" and b"delivered 4 times" in dead[b"reason"]
    assert await aredis.xlen(f"{prefix}verdicts") == 0


async def test_history_and_store_from_the_worker(aredis: aioredis.Redis, prefix: str, redis_url: str,
                                                 demo_runtime: Runtime, tmp_path: Path) -> None:
    from gavel.stream.stateful import StatefulEvaluator, build_stages

    settings = demo_runtime.settings.model_copy(update={
        "history_backend": "redis", "redis_url": redis_url, "history_prefix": prefix,
        "store_url": f"sqlite:///{tmp_path / 'w.db'}"})
    stages = build_stages(settings)
    evaluator = StatefulEvaluator(demo_runtime.evaluator, stages, source="worker")
    ctx = json.dumps({"author_id": "troll"})
    await _push(aredis, f"{prefix}posts", [{"id": f"p{i}", "text": "you idiot", "context": ctx} for i in range(4)])
    worker = StreamWorker(_config(prefix, batch=1), evaluator, aredis)
    await _run_until(worker, lambda: _xlen_at_least(aredis, f"{prefix}verdicts", 4))
    actions = [json.loads(f[b"result"])["decision"]["action"] for _, f in await _axrange(aredis, f"{prefix}verdicts")]
    assert actions == ["review", "review", "review", "remove"]
    assert stages.recorder is not None and stages.store is not None
    await stages.recorder.flush()
    got = stages.store.get("p3")
    assert got is not None and got.source == "worker" and got.author_id == "troll" and got.action == "remove"
    await stages.close()


# --- real worker processes ----------------------------------------------------------------------


class Workers:
    def __init__(self, redis_url: str, prefix: str, policy_dir: Path, logs: Path) -> None:
        self.redis_url, self.prefix, self.policy_dir, self.logs = redis_url, prefix, policy_dir, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, consumer: str, *extra: str) -> subprocess.Popen[bytes]:
        p = self.prefix
        cmd = [sys.executable, "-m", "gavel.cli", "worker", "--redis", self.redis_url,
               "--input", f"{p}posts", "--output", f"{p}verdicts", "--dead", f"{p}dead", "--group", "g",
               "--consumer", consumer, "--policy-dir", str(self.policy_dir), "--models", "", "--history", "none",
               "--block-ms", "100", "--http-port", "-1", *extra]
        log = (self.logs / f"{consumer}.log").open("wb")
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "GAVEL_LOG_LEVEL": "WARNING"})
        self.procs.append(proc)
        return proc

    def log(self, consumer: str) -> str:
        return (self.logs / f"{consumer}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def workers(redis_url: str, prefix: str, demo_policy_dir: Path, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(redis_url, prefix, demo_policy_dir, tmp_path)
    yield w
    w.stop_all()


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _push_sync(client: redis.Redis, stream: str, n: int) -> list[str]:
    ids = [f"post-{i}" for i in range(n)]
    pipe = client.pipeline(transaction=False)
    for i, post_id in enumerate(ids):
        pipe.xadd(stream, {"id": post_id, "text": TEXTS[i % 4], "context": json.dumps({"i": i})})
    pipe.execute()
    return ids


def _consumers(client: redis.Redis, stream: str) -> set[str]:
    try:
        reply: Any = client.xinfo_consumers(stream, "g")
        return {c["name"].decode() for c in reply}
    except redis.ResponseError:
        return set()


@pytest.mark.slow
def test_sigkill_half_way_loses_nothing(workers: Workers, redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    n = 2_000
    ids = _push_sync(client, f"{prefix}posts", n)
    w1 = workers.start("w1", "--batch", "20", "--reclaim-idle-ms", "500")
    _wait(lambda: client.xlen(f"{prefix}verdicts") >= n // 2 or w1.poll() is not None, 30, "w1's first results")
    w1.send_signal(signal.SIGKILL)
    w1.wait(10)
    at_kill = client.xlen(f"{prefix}verdicts")
    assert at_kill < n, f"w1 finished before it was killed:\n{workers.log('w1')}"
    pending_w1 = client.xpending_range(f"{prefix}posts", "g", "-", "+", 1000, consumername="w1")

    w2 = workers.start("w2", "--batch", "64", "--reclaim-idle-ms", "500")

    def all_done() -> bool:
        assert w2.poll() is None, workers.log("w2")
        return {f[b"id"].decode() for _, f in _xrange(client, f"{prefix}verdicts")} >= set(ids)

    _wait(all_done, 60, "every post to have a result")
    got = Counter(f[b"id"].decode() for _, f in _xrange(client, f"{prefix}verdicts"))
    duplicates = sum(c - 1 for c in got.values())
    print(f"\nkilled w1 after {at_kill} results with {len(pending_w1)} entries pending; "
          f"{len(got)} posts answered, {duplicates} duplicates")
    assert set(got) == set(ids)
    assert client.xlen(f"{prefix}dead") == 0
    _wait(lambda: client.xpending(f"{prefix}posts", "g")["pending"] == 0, 10, "the pending list to empty")
    client.close()


@pytest.mark.slow
def test_two_workers_share_the_load(workers: Workers, redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create(f"{prefix}posts", "g", id="0", mkstream=True)
    workers.start("a", "--batch", "16")
    workers.start("b", "--batch", "16")
    _wait(lambda: _consumers(client, f"{prefix}posts") == {"a", "b"}, 30, "both workers to join the group")
    n = 1_000
    for start in range(0, n, 100):  # in waves, as posts arrive in production
        pipe = client.pipeline(transaction=False)
        for i in range(start, start + 100):
            pipe.xadd(f"{prefix}posts", {"id": f"p{i}", "text": TEXTS[i % 4]})
        pipe.execute()
        time.sleep(0.02)
    _wait(lambda: client.xlen(f"{prefix}verdicts") >= n, 60, "every post to have a result")
    by = Counter(f[b"consumer"].decode() for _, f in _xrange(client, f"{prefix}verdicts"))
    print(f"\nsplit: {dict(by)}")
    assert set(by) == {"a", "b"} and sum(by.values()) == n
    assert min(by.values()) >= n // 10
    client.close()


@pytest.mark.slow
def test_sigterm_finishes_the_batch_in_hand(workers: Workers, redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    _push_sync(client, f"{prefix}posts", 3_000)
    w = workers.start("t", "--batch", "50")
    _wait(lambda: client.xlen(f"{prefix}verdicts") >= 100, 30, "the first results")
    w.send_signal(signal.SIGTERM)
    assert w.wait(15) == 0, workers.log("t")
    # every entry it read was answered and acknowledged before it left
    assert client.xpending(f"{prefix}posts", "g")["pending"] == 0
    groups: Any = client.xinfo_groups(f"{prefix}posts")
    delivered = groups[0]
    assert client.xlen(f"{prefix}verdicts") == delivered["entries-read"] < 3_000
    client.close()


def test_the_cli_runs_the_worker() -> None:
    out = subprocess.run([sys.executable, "-m", "gavel.cli", "worker", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--reclaim-idle-ms" in out.stdout and "--http-port" in out.stdout
