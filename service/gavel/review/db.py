"""The review console's tables (queue items, decisions, audit log, keys) on the verdict store's
database, with SQLAlchemy Core: one definition for SQLite and PostgreSQL.

The tables are created by the Alembic migrations in `gavel/review/migrations` with their own
version table (`gavel_review_alembic_version`), so they never collide with the verdict store's.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

metadata = sa.MetaData()

# API keys: one row per person and key; only the SHA-256 of the key is kept.
keys = sa.Table(
    "review_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked_ms", sa.BigInteger, nullable=True),
)

# One row per queued post. `state` is open | claimed | decided; a claim whose lease ran out counts
# as open again. `policies` is the JSON of the record's per-policy results (clauses, evidence).
items = sa.Table(
    "review_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_uid", sa.String(64), nullable=False, unique=True),
    sa.Column("post_id", sa.Text, nullable=False),
    sa.Column("author_id", sa.Text, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("text_purged", sa.Boolean, nullable=False, default=False),
    sa.Column("policies", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("lease_until_ms", sa.BigInteger, nullable=True),
    sa.Column("last_decided_by", sa.String(128), nullable=True),
    sa.Column("current_decision", sa.Integer, nullable=True),
    sa.Column("appeals", sa.Integer, nullable=False, default=0),
    sa.Index("ix_review_items_state", "state", "id"),
    sa.Index("ix_review_items_author", "author_id", "id"),
)

# Each clause verdict of a queued post, for the filters and the agreement figures.
item_clauses = sa.Table(
    "review_item_clauses",
    metadata,
    sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id", ondelete="CASCADE"), nullable=False),
    sa.Column("policy_id", sa.String(128), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("clause_id", sa.String(128), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Index("ix_review_item_clauses_filter", "policy_id", "clause_id", "verdict", "item_id"),
    sa.Index("ix_review_item_clauses_item", "item_id"),
)

# Decisions are appended, never updated: an appeal's second decision is a new row, and the item
# points at its current one.
decisions = sa.Table(
    "review_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id", ondelete="CASCADE"), nullable=False),
    sa.Column("reviewer", sa.String(128), nullable=False),
    sa.Column("decided_ms", sa.BigInteger, nullable=False),
    sa.Column("final_action", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Index("ix_review_decisions_item", "item_id"),
)

decision_clauses = sa.Table(
    "review_decision_clauses",
    metadata,
    sa.Column("decision_id", sa.Integer, sa.ForeignKey("review_decisions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("policy_id", sa.String(128), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("policy_digest", sa.String(128), nullable=False),
    sa.Column("clause_id", sa.String(128), nullable=False),
    sa.Column("gavel_verdict", sa.String(16), nullable=False),
    sa.Column("judgement", sa.String(16), nullable=False),
    sa.Index("ix_review_decision_clauses_decision", "decision_id"),
)

# The audit log: append-only (no code path updates or deletes a row).
audit = sa.Table(
    "review_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("item_id", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_review_audit_item", "item_id", "id"),
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "gavel_review_alembic_version"


def now_ms() -> int:
    return int(time.time() * 1000)


def sqlalchemy_url(store_url: str) -> str:
    """GAVEL_STORE_URL as SQLAlchemy wants it: PostgreSQL through psycopg 3 (the store's driver)."""
    for prefix in ("postgresql://", "postgres://"):
        if store_url.startswith(prefix):
            return "postgresql+psycopg://" + store_url.removeprefix(prefix)
    if store_url.startswith("sqlite://"):
        return store_url
    scheme = store_url.split(":", 1)[0]
    raise ValueError(f"store_url must start with sqlite:/// or postgresql://, not {scheme!r}")


def make_engine(store_url: str) -> Engine:
    url = sqlalchemy_url(store_url)
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite://").removeprefix("/")
        if path in ("", ":memory:"):
            # one shared connection: an in-memory database lives in one connection
            return sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(conn: object, _record: object) -> None:
            cur = conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


_migrate_lock = threading.Lock()


def migrate(engine: Engine) -> None:
    """Bring the review tables to the newest migration (Alembic, own version table)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _migrate_lock, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # two processes starting together: one migrates, the other waits for it
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7106142913)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
