"""The review console's tables (queue items, decisions, audit log, keys) on the verdict store's
database, with SQLAlchemy Core: one definition for SQLite and PostgreSQL.

They live on the store's MetaData and are created by the store's own Alembic chain (revision
0005 in `gavel/store/migrations/versions`), reached through the store's one engine and migrated
lazily with it: see `OnStore`.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gavel.store.schema import metadata
from gavel.store.sql import SqlVerdictStore

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


def now_ms() -> int:
    return int(time.time() * 1000)


class OnStore:
    """What reaches the review tables: the verdict store's engine (one pool per process), after
    the store's schema (review tables included) is migrated. Nothing connects before first use,
    so a process starts while its database is down; a use during an outage raises
    StoreUnavailable (503 `store_unavailable` on the API) and tries again next time."""

    store: SqlVerdictStore

    @property
    def engine(self) -> Engine:
        self.store.ensure_schema()
        return self.store.engine
