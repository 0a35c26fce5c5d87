"""The verdict store on SQLite and PostgreSQL (same test bodies), its migrations, the recorder,
and the dashboard endpoints."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.engine.evaluator import EvalItem
from gavel.runtime import Runtime
from gavel.store.recorder import Decided, VerdictRecorder
from gavel.store.records import StoredDecision, VerdictQuery, decode_cursor, encode_cursor, record_from
from gavel.store.sql import SqlVerdictStore
from gavel.stream.metrics import StageMetrics

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def _records(runtime: Runtime, texts: list[tuple[str, str, str | None]], start: datetime = T0,
                   store_text: str = "hash") -> list[StoredDecision]:
    results = await runtime.evaluator.evaluate_many([EvalItem(t, i, {}) for i, t, _ in texts])
    return [record_from(r, t, "test", author, store_text, start + timedelta(minutes=n))  # type: ignore[arg-type]
            for n, (r, (_, t, author)) in enumerate(zip(results, texts, strict=True))]


POSTS = [
    ("p1", "we will kill all muslims", "alice"),
    ("p2", "you idiot", "bob"),
    ("p3", "hello there", "alice"),
    ("p4", "eliminate the jews", "carol"),
    ("p5", "nice weather", None),
]


async def test_write_then_read_back(store_url: str, demo_runtime: Runtime) -> None:
    records = await _records(demo_runtime, POSTS)
    store = SqlVerdictStore(store_url)
    try:
        store.write(records)
        got = store.get("p1")
        assert got is not None
        assert got.model_dump() == records[0].model_dump()
        assert got.text is None and got.text_sha256 == hashlib.sha256(POSTS[0][1].encode()).hexdigest()
        threat = got.policies[0].clauses[0]
        assert (threat.clause_id, threat.verdict) == ("threats", "violates")
        assert {e.text for e in threat.evidence} == {"kill", "muslims"}
        assert got.policies[0].version == "1" and got.policies[0].digest.startswith("sha256:")
        assert store.get("nope") is None
    finally:
        store.close()


async def test_filters_and_cursor_pages(store_url: str, demo_runtime: Runtime) -> None:
    store = SqlVerdictStore(store_url)
    try:
        store.write(await _records(demo_runtime, POSTS))

        def ids(**kw: object) -> list[str]:
            return [r.id for r in store.query(VerdictQuery(**kw)).records]  # type: ignore[arg-type]

        assert ids() == ["p5", "p4", "p3", "p2", "p1"]
        assert ids(clause="threats", verdict="violates") == ["p4", "p1"]
        assert ids(policy="demo", clause="insults", verdict="violates") == ["p2"]
        assert ids(verdict="violates") == ["p4", "p2", "p1"]
        assert ids(author="alice") == ["p3", "p1"]
        assert ids(action="remove") == ["p4", "p1"]
        assert ids(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)) == ["p3", "p2"]
        assert ids(policy="other") == []
        seen: list[str] = []
        before = None
        while True:
            page = store.query(VerdictQuery(limit=2, before_seq=before))
            seen += [r.id for r in page.records]
            if page.next_seq is None:
                break
            before = page.next_seq
        assert seen == ["p5", "p4", "p3", "p2", "p1"]
    finally:
        store.close()


async def test_stats_buckets(store_url: str, demo_runtime: Runtime) -> None:
    store = SqlVerdictStore(store_url)
    try:
        early = await _records(demo_runtime, POSTS[:2], start=T0)
        late = await _records(demo_runtime, POSTS[3:4], start=T0 + timedelta(hours=1))
        store.write(early + late)
        stats = store.stats(T0 - timedelta(hours=1), T0 + timedelta(hours=3), 3_600)
        rows = {(r.start, r.clause_id, r.verdict): r.count for r in stats.clauses}
        assert rows[(T0, "threats", "violates")] == 1
        assert rows[(T0, "threats", "no_violation")] == 1
        assert rows[(T0 + timedelta(hours=1), "threats", "violates")] == 1
        actions = {(r.start, r.action): r.count for r in stats.actions}
        assert actions == {(T0, "remove"): 1, (T0, "review"): 1, (T0 + timedelta(hours=1), "remove"): 1}
        only = store.stats(T0, T0 + timedelta(hours=3), 86_400, policy="demo", clause="insults")
        assert {(r.verdict, r.count) for r in only.clauses} == {("violates", 1), ("no_violation", 2)}
    finally:
        store.close()


async def test_store_text_modes(tmp_path: Path, demo_runtime: Runtime) -> None:
    (kept,) = await _records(demo_runtime, POSTS[:1], store_text="text")
    (hidden,) = await _records(demo_runtime, POSTS[:1], store_text="none")
    assert kept.text == POSTS[0][1] and kept.text_sha256
    assert hidden.text is None and hidden.text_sha256 is None


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    for bad in ("", "xyz", encode_cursor(1)[:-2] + "!!", "djE6LTE"):
        with pytest.raises(ValueError):
            decode_cursor(bad)


async def test_recorder_batches_and_a_failing_store_is_loud(tmp_path: Path, demo_runtime: Runtime) -> None:
    result = await demo_runtime.evaluator.evaluate("you idiot", item_id="r1")
    store = SqlVerdictStore(f"sqlite:///{tmp_path / 'r.db'}")
    metrics = StageMetrics()
    recorder = VerdictRecorder(store, metrics, batch=50)
    recorder.submit([Decided(result.model_copy(update={"id": f"r{i}"}), "you idiot", "test", None, T0)
                     for i in range(120)])
    await recorder.flush()
    assert metrics.store_records.labels("written")._value.get() == 120
    assert len(store.query(VerdictQuery(limit=500)).records) == 120

    class Down(SqlVerdictStore):
        def write(self, records: object) -> list[object]:
            raise ConnectionError("database is down")

    down_metrics = StageMetrics()
    broken = VerdictRecorder(Down(f"sqlite:///{tmp_path / 'd.db'}"), down_metrics)
    broken.submit([Decided(result, "you idiot", "test", None, T0)])
    await broken.flush()
    assert down_metrics.store_failures._value.get() == 2  # tried, then tried again
    assert down_metrics.store_records.labels("dropped")._value.get() == 1
    await asyncio.to_thread(recorder.close)
    await asyncio.to_thread(broken.close)


def test_dashboard_endpoints(store_url: str, demo_runtime: Runtime, tmp_path: Path) -> None:
    settings = demo_runtime.settings.model_copy(
        update={"store_url": store_url, "store_text": "text", "store_spool_dir": tmp_path / "spool"}
    )
    app = create_app(settings, demo_runtime)
    with TestClient(app) as client:
        for i, (pid, text, author) in enumerate(POSTS):
            ctx = {"author_id": author} if author else {}
            assert client.post("/evaluate", json={"id": pid, "text": text, "context": ctx}).status_code == 200, i
        stages = app.state.runtime.stages
        asyncio.run(stages.recorder.flush())
        assert client.get("/verdicts").status_code == 401  # reads need a key (gavel.auth)
        client.headers["X-API-Key"] = stages.review.keys.create("dashboard", "viewer")[1]

        page = client.get("/verdicts", params={"clause": "threats", "verdict": "violates", "limit": 1}).json()
        assert [r["id"] for r in page["records"]] == ["p4"]
        assert page["records"][0]["source"] == "http" and page["records"][0]["text"] == "eliminate the jews"
        nxt = client.get("/verdicts", params={"clause": "threats", "verdict": "violates", "limit": 1,
                                              "cursor": page["next_cursor"]}).json()
        assert [r["id"] for r in nxt["records"]] == ["p1"] and nxt["next_cursor"] is None
        assert [r["id"] for r in client.get("/verdicts", params={"author": "alice"}).json()["records"]] == ["p3", "p1"]

        one = client.get("/verdicts/p2").json()
        assert one["author_id"] == "bob" and one["action"] == "review"
        assert one["policies"][0]["clauses"][1]["verdict"] == "violates"
        assert client.get("/verdicts/missing").status_code == 404

        stats = client.get("/stats", params={"bucket": "day"}).json()
        counts = {(r["clause_id"], r["verdict"]): r["count"] for r in stats["clauses"]}
        assert counts[("threats", "violates")] == 2 and counts[("insults", "violates")] == 1
        assert sum(r["count"] for r in stats["actions"]) == 5

        # issue 12.14: a clause alone means "hit that clause"; an unknown clause is a typo, not an empty page
        assert [r["id"] for r in client.get("/verdicts", params={"clause": "threats"}).json()["records"]] == [
            "p4", "p1"]
        for bad in ({"clause": "threat"}, {"policy": "demo", "clause": "nope"}):
            r = client.get("/verdicts", params=bad)
            assert r.status_code == 422 and "threats" in r.json()["problems"][0]["problem"], bad
        assert client.get("/stats", params={"clause": "nope"}).status_code == 422

        for bad in ({"cursor": "garbage"}, {"verdict": "maybe"}, {"limit": 0}, {"author": "a\x00b"}):
            r = client.get("/verdicts", params=bad)
            assert r.status_code == 422, bad
            assert r.json()["problems"]


def test_no_store_configured(demo_runtime: Runtime) -> None:
    with TestClient(create_app(demo_runtime.settings, demo_runtime)) as client:
        for path in ("/verdicts", "/verdicts/x", "/stats"):
            r = client.get(path)
            assert r.status_code == 404 and r.json()["error"] == "store_disabled"


def test_records_keep_the_decisions_reasons(tmp_path: Path, demo_runtime: Runtime) -> None:
    """Issue 12.14: the escalation's explanation was lost from the stored record."""
    settings = demo_runtime.settings.model_copy(
        update={"store_url": f"sqlite:///{tmp_path / 'r.db'}", "store_spool_dir": tmp_path / "spool"}
    )
    app = create_app(settings, demo_runtime)
    with TestClient(app) as client:
        for i in range(4):
            body = {"id": f"t{i}", "text": "you idiot", "context": {"author_id": "troll"}}
            answer = client.post("/evaluate", json=body).json()
        assert answer["decision"]["action"] == "remove" and answer["decision"]["reasons"]
        assert asyncio.run(app.state.runtime.stages.recorder.flush())
        client.headers["X-API-Key"] = app.state.runtime.stages.review.keys.create("dashboard", "viewer")[1]
        stored = client.get("/verdicts/t3").json()
        assert stored["reasons"] == answer["decision"]["reasons"]
        assert any("three recent strikes" in r for r in stored["reasons"])
        assert not any("three recent strikes" in r for r in client.get("/verdicts/t0").json()["reasons"])
