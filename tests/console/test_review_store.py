"""The review console lives on the verdict store: one engine, one Alembic chain (revision 0005),
migrated lazily with the store; a database of the console's former chain of its own is adopted;
queue entries are idempotent and one the database refuses costs only itself."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gavel.engine.evaluator import EvalItem
from gavel.review.queue import Entry
from gavel.review.reads import ItemFilter
from gavel.review.service import QueueHook, review_on
from gavel.runtime import Runtime
from gavel.settings import Settings
from gavel.store.migrate import current, head
from gavel.store.records import ForReview, record_from
from gavel.store.sql import SqlVerdictStore
from tests.console.conftest import Console

LEGACY_VERSION_TABLE = "gavel_review_alembic_version"


def test_the_review_tables_share_the_stores_engine_and_chain(console: Console) -> None:
    stages = console.client.app.state.runtime.stages  # type: ignore[attr-defined]
    assert console.review.store is stages.store and stages.recorder.store is stages.store
    assert console.review.engine is stages.store.engine  # one pool per process, not two
    tables = set(sa.inspect(stages.store.engine).get_table_names())
    assert {"review_keys", "review_items", "review_audit", "decisions"} <= tables
    assert LEGACY_VERSION_TABLE not in tables
    with stages.store.engine.connect() as conn:
        assert current(conn) == head()


def test_a_database_of_the_former_review_chain_is_adopted(store_url: str) -> None:
    store = SqlVerdictStore(store_url)
    review = review_on(store, Settings())
    _, token = review.keys.create("root", "admin")
    # back to what the two chains left: the store at 0003, the console's tables at its own r0001
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0003'"))
        conn.execute(sa.text("ALTER TABLE policy_results DROP COLUMN coverage"))
        conn.execute(sa.text(f"CREATE TABLE {LEGACY_VERSION_TABLE} (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(sa.text(f"INSERT INTO {LEGACY_VERSION_TABLE} VALUES ('r0001')"))
    store.close()
    again = SqlVerdictStore(store_url)
    try:
        keys = review_on(again, Settings()).keys
        found = keys.verify(token)  # the first use migrates: the console's tables are kept, not recreated
        assert found is not None and found.name == "root"
        assert LEGACY_VERSION_TABLE not in sa.inspect(again.engine).get_table_names()
        with again.engine.connect() as conn:
            assert current(conn) == head()
    finally:
        again.close()


def _entry(uid: str, post_id: str = "p") -> Entry:
    return Entry(record_uid=uid, post_id=post_id, author_id=None, created_ms=0, reason="review", action="review",
                 text="you idiot", policies=[])


def test_queueing_is_idempotent(console: Console) -> None:
    queue = console.review.queue
    assert queue.enqueue([_entry("u1"), _entry("u2")]) == 2
    assert queue.enqueue([_entry("u2"), _entry("u3")]) == 1  # a shipped batch handed on again
    assert queue.counts(ItemFilter())["open"] == 3


@pytest.mark.postgres
async def test_an_entry_the_database_refuses_costs_only_itself(postgres_url: str, demo_runtime: Runtime) -> None:
    store = SqlVerdictStore(postgres_url)
    review = review_on(store, Settings())
    try:
        posts = [("q1", "you idiot"), ("bad\x00id", "you idiot"), ("q3", "you idiot")]
        results = await demo_runtime.evaluator.evaluate_many([EvalItem(t, i, {}) for i, t in posts])
        records = [record_from(r, t, "test", None, "hash") for r, (_, t) in zip(results, posts, strict=True)]
        QueueHook(review)([ForReview(record=r, review="review", text="you idiot") for r in records])
        page = review.queue.page(ItemFilter(), None, 50)
        assert sorted(i["post_id"] for i in page.items) == ["q1", "q3"]  # PostgreSQL text cannot hold NUL
    finally:
        store.close()
