"""The verdict store's tables: one SQLAlchemy MetaData for SQLite and PostgreSQL.

Every table Gavel keeps in the store database lives on `metadata`, so the Alembic migrations
(`gavel/store/migrations`) and the code share one description. To add a table: declare it here
on `metadata`, then add a migration in `migrations/versions/` whose `down_revision` is the
current head (see the README's store section).

Lists and objects are JSON in TEXT columns (`JsonText`), not the dialects' JSON types, so the
schema is the same on both engines and the same as the one the numbered migrations created.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
)


class JsonText(TypeDecorator[Any]):
    """A JSON value stored as TEXT. `json.dumps` escapes NUL as \\u0000, which PostgreSQL accepts."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


# The ordering key of records (cursor pagination): SQLite's INTEGER PRIMARY KEY is its rowid.
SeqKey = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

decisions = Table(
    "decisions",
    metadata,
    Column("seq", SeqKey, primary_key=True, autoincrement=True),
    Column("uid", Text, nullable=False, unique=True),
    Column("id", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("author_id", Text),
    Column("action", Text, nullable=False),
    Column("policies_violated", JsonText, nullable=False),
    Column("reasons", JsonText, nullable=False, server_default="[]"),
    Column("models", JsonText, nullable=False),
    Column("text", Text),
    Column("text_sha256", Text),
    Column("timing_ms", Double, nullable=False),
    Index("decisions_id", "id", "seq"),
    Index("decisions_author", "author_id", "seq"),
    Index("decisions_created", "created_ms"),
    sqlite_autoincrement=True,  # a deleted newest seq is never reused: cursors stay valid
)

policy_results = Table(
    "policy_results",
    metadata,
    Column("decision_uid", Text, ForeignKey("decisions.uid", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("policy_id", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("coverage", JsonText, doc="whether the policy covers the post's language; null before revision 0004"),
)

clause_verdicts = Table(
    "clause_verdicts",
    metadata,
    Column("decision_uid", Text, ForeignKey("decisions.uid", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("author_id", Text),
    Column("policy_id", Text, nullable=False),
    Column("clause_id", Text, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("score", Double, nullable=False),
    Column("evidence", JsonText, nullable=False),
    Column("exceptions", JsonText, nullable=False),
    Column("explanation", Text, nullable=False),
    Index("clause_verdicts_filter", "policy_id", "clause_id", "verdict", "created_ms"),
    Index("clause_verdicts_created", "created_ms"),
    Index("clause_verdicts_verdict", "verdict", "created_ms"),
)

# A record the database refused on its own (not because the database was down): kept with the
# reason so an operator can see and repair it; the rest of its batch is written.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("seq", SeqKey, primary_key=True, autoincrement=True),
    Column("uid", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("record", Text, nullable=False, doc="the record as JSON (NUL escaped)"),
    sqlite_autoincrement=True,
)
