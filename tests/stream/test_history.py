"""Author history: the same behaviour from the in-memory and the Redis store, and its use by
policies through `context["author"]`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.runtime import Runtime
from gavel.stream.history import (
    AuthorHistory,
    MemoryAuthorHistory,
    RedisAuthorHistory,
    ViolationEvent,
    merge_author,
)
from gavel.stream.metrics import StageMetrics
from gavel.stream.stateful import StatefulEvaluator, StreamStages

DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def history(request: pytest.FixtureRequest) -> AsyncIterator[tuple[AuthorHistory, Clock]]:
    clock = Clock()
    store: AuthorHistory
    if request.param == "memory":
        store = MemoryAuthorHistory(retention_s=30 * DAY, max_events=5, clock=clock)
    else:
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("prefix")
        store = RedisAuthorHistory.from_url(url, prefix, retention_s=30 * DAY, max_events=5)
        store.clock = clock
    yield store, clock
    await store.close()


async def test_strikes_windows_and_clauses(history: tuple[AuthorHistory, Clock]) -> None:
    store, clock = history
    now = clock.now
    await store.record([
        ViolationEvent("alice", "p1", now - 10 * DAY, ("demo.threats",)),
        ViolationEvent("alice", "p2", now - 2 * DAY, ("demo.threats", "demo.insults")),
        ViolationEvent("alice", "p3", now - 60, ("demo.insults",)),
        ViolationEvent("bob", "p4", now - 60, ("demo.threats",)),
    ])
    snap = await store.snapshot(["alice", "bob", "carol"])
    assert snap["alice"] == {
        "strikes": 3, "violations_1h": 1, "violations_24h": 1, "violations_7d": 2,
        "violations": {"demo.threats": 2, "demo.insults": 2},
    }
    assert snap["bob"]["strikes"] == 1
    assert snap["carol"] == {"strikes": 0, "violations_1h": 0, "violations_24h": 0, "violations_7d": 0,
                             "violations": {}}


async def test_a_post_counts_once(history: tuple[AuthorHistory, Clock]) -> None:
    """A redelivered stream entry is evaluated twice; its strike must not double."""
    store, clock = history
    event = ViolationEvent("alice", "post-1", clock.now, ("demo.threats",))
    await store.record([event])
    await store.record([event])
    snap = await store.snapshot(["alice"])
    assert snap["alice"]["strikes"] == 1
    assert snap["alice"]["violations"] == {"demo.threats": 1}


async def test_counters_expire(history: tuple[AuthorHistory, Clock]) -> None:
    store, clock = history
    await store.record([ViolationEvent("alice", "old", clock.now, ("demo.threats",))])
    clock.now += 31 * DAY
    await store.record([ViolationEvent("alice", "new", clock.now, ("demo.insults",))])
    snap = await store.snapshot(["alice"])
    assert snap["alice"]["strikes"] == 1
    assert snap["alice"]["violations"] == {"demo.insults": 1}


async def test_newest_events_are_kept(history: tuple[AuthorHistory, Clock]) -> None:
    store, clock = history
    await store.record([ViolationEvent("alice", f"p{i}", clock.now + i, ("demo.threats",)) for i in range(8)])
    clock.now += 10
    snap = await store.snapshot(["alice"])
    assert snap["alice"]["strikes"] == 5  # max_events


async def test_redis_keys_carry_a_ttl(redis_url: str, prefix: str) -> None:
    store = RedisAuthorHistory.from_url(redis_url, prefix, retention_s=3_600)
    await store.record([ViolationEvent("alice", "p1", __import__("time").time(), ("demo.threats",))])
    keys = [k async for k in store.client.scan_iter(match=f"{prefix}*")]
    assert len(keys) == 2
    for key in keys:
        assert 0 < await store.client.ttl(key) <= 3_600
    await store.close()


def test_the_caller_wins_over_the_store() -> None:
    snapshot = {"strikes": 4, "violations_24h": 2, "violations": {}}
    merged = merge_author({"author_id": "a", "author": {"strikes": 0}}, snapshot)
    assert merged["author"] == {"strikes": 0, "violations_24h": 2, "violations": {}}
    assert merge_author({"author_id": "a"}, snapshot)["author"]["strikes"] == 4
    assert merge_author({"author": "not a mapping"}, snapshot)["author"] == "not a mapping"


async def test_strikes_escalate_a_repeat_offender(demo_runtime: Runtime) -> None:
    """Three violating posts, then a fourth: the policy's escalation turns review into remove."""
    history = MemoryAuthorHistory(retention_s=DAY)
    evaluator = StatefulEvaluator(demo_runtime.evaluator, StreamStages(StageMetrics(), history=history), "test")
    ctx = {"author_id": "troll"}
    actions = [(await evaluator.evaluate("you idiot", context=ctx, item_id=f"p{i}")).decision.action.value
               for i in range(4)]
    assert actions == ["review", "review", "review", "remove"]
    other = await evaluator.evaluate("you idiot", context={"author_id": "newcomer"}, item_id="q1")
    assert other.decision.action.value == "review"
    clean = await evaluator.evaluate("hello", context={"author_id": "troll"}, item_id="p9")
    assert clean.decision.action.value == "allow"
    snap = await history.snapshot(["troll"])
    assert snap["troll"]["strikes"] == 4
    assert snap["troll"]["violations"] == {"demo.insults": 4}


async def test_history_down_is_loud_not_fatal(demo_runtime: Runtime) -> None:
    class Broken:
        async def snapshot(self, author_ids: object) -> dict[str, dict[str, object]]:
            raise ConnectionError("redis is down")

        async def record(self, events: object) -> None:
            raise ConnectionError("redis is down")

        async def close(self) -> None:
            pass

    metrics = StageMetrics()
    evaluator = StatefulEvaluator(demo_runtime.evaluator, StreamStages(metrics, history=Broken()), "test")
    result = await evaluator.evaluate("you idiot", context={"author_id": "a"})
    assert result.decision.action.value == "review"
    assert metrics.history_failures.labels("read")._value.get() == 1
    assert metrics.history_failures.labels("write")._value.get() == 1


def test_api_merges_history_with_redis(demo_runtime: Runtime, redis_url: str, prefix: str) -> None:
    settings = demo_runtime.settings.model_copy(update={"history_backend": "redis", "redis_url": redis_url,
                                                        "history_prefix": prefix})
    with TestClient(create_app(settings, demo_runtime)) as client:
        body = {"text": "you idiot", "context": {"author_id": "troll"}}
        actions = [client.post("/evaluate", json={**body, "id": f"p{i}"}).json()["decision"]["action"]
                   for i in range(4)]
        assert actions == ["review", "review", "review", "remove"]
        batch = client.post("/evaluate/batch", json={"items": [{**body, "id": "p9"}, {"text": "hi", "id": "x"}]})
        assert [r["decision"]["action"] for r in batch.json()["results"]] == ["remove", "allow"]


async def test_an_overlong_author_id_is_never_kept(history: tuple[AuthorHistory, Clock]) -> None:
    """Issue 12.6: 300 distinct 1 MB author ids kept +293 MiB for 30 days."""
    store, clock = history
    huge = "é" * 200  # 200 code points, 400 UTF-8 bytes: over the 256-byte limit
    await store.record([ViolationEvent(huge, "p1", clock.now, ("demo.threats",)),
                        ViolationEvent("alice", "p2", clock.now, ("demo.threats",))])
    snap = await store.snapshot([huge, "alice"])
    assert snap[huge]["strikes"] == 0 and "256 bytes" in snap[huge]["history_unavailable"]
    assert snap["alice"]["strikes"] == 1 and "history_unavailable" not in snap["alice"]
    if isinstance(store, MemoryAuthorHistory):
        assert len(store) == 1
    else:
        keys = [k async for k in store.client.scan_iter(match=f"{store.prefix}*")]
        assert len(keys) == 2  # alice's two sorted sets, nothing for the long id


async def test_memory_history_keeps_the_most_recently_seen_authors() -> None:
    clock = Clock()
    store = MemoryAuthorHistory(retention_s=30 * DAY, clock=clock, max_authors=3)
    await store.record([ViolationEvent(f"a{i}", f"p{i}", clock.now, ("demo.threats",)) for i in range(3)])
    await store.snapshot(["a0"])  # a0 seen again: a1 is now the least recently seen
    await store.record([ViolationEvent("a3", "p3", clock.now, ("demo.threats",))])
    snap = await store.snapshot(["a0", "a1", "a2", "a3"])
    assert [snap[a]["strikes"] for a in ("a0", "a1", "a2", "a3")] == [1, 0, 1, 1]
    assert len(store) == 3
    # 5,000 authors through a 3-author store: what evicted authors left in the expiry order is compacted
    for i in range(5_000):
        await store.record([ViolationEvent(f"b{i}", f"q{i}", clock.now, ("demo.threats",))])
    assert len(store) == 3 and len(store._expiry) <= 2 * 3 + 1_024


async def test_the_api_keeps_no_history_for_overlong_author_ids(demo_runtime: Runtime) -> None:
    history = MemoryAuthorHistory(retention_s=DAY, max_author_id_bytes=256)
    evaluator = StatefulEvaluator(demo_runtime.evaluator, StreamStages(StageMetrics(), history=history), "test")
    for i in range(300):
        await evaluator.evaluate("you idiot", context={"author_id": f"{i}" + "x" * 100_000}, item_id=f"p{i}")
    assert len(history) == 0
    ok = await evaluator.evaluate("you idiot", context={"author_id": "a" * 256}, item_id="q")
    assert ok.decision.action.value == "review" and len(history) == 1
