"""the review console's tables (keys, queue items, decisions, audit log) join the store's chain

Revision ID: 0005
Revises: 0004

Before this revision the review console migrated its tables with a chain of its own (revision
`r0001`, version table `gavel_review_alembic_version`). A database that has them is adopted: the
tables r0001 created are exactly these, so they are kept as they are and the old version table
is dropped. The definitions below are frozen copies (the live ones are in `gavel.review.db`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LEGACY_VERSION_TABLE = "gavel_review_alembic_version"
_TABLES = ("review_keys", "review_items", "review_item_clauses", "review_decisions", "review_decision_clauses",
           "review_audit")


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if LEGACY_VERSION_TABLE in existing:
        legacy = op.get_bind().execute(sa.text(f"SELECT version_num FROM {LEGACY_VERSION_TABLE}")).scalars().all()
        if legacy != ["r0001"] or not existing.issuperset(_TABLES):
            raise RuntimeError(f"the review tables are at revision {legacy!r} of their former chain, which this "
                               "Gavel does not know; upgrade Gavel or point it at another store")
        op.drop_table(LEGACY_VERSION_TABLE)
        return
    _create()


def _create() -> None:
    op.create_table(
        "review_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_uid", sa.String(64), nullable=False, unique=True),
        sa.Column("post_id", sa.Text, nullable=False),
        sa.Column("author_id", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("text_purged", sa.Boolean, nullable=False),
        sa.Column("policies", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger, nullable=True),
        sa.Column("last_decided_by", sa.String(128), nullable=True),
        sa.Column("current_decision", sa.Integer, nullable=True),
        sa.Column("appeals", sa.Integer, nullable=False),
    )
    op.create_index("ix_review_items_state", "review_items", ["state", "id"])
    op.create_index("ix_review_items_author", "review_items", ["author_id", "id"])
    op.create_table(
        "review_item_clauses",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("clause_id", sa.String(128), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
    )
    op.create_index("ix_review_item_clauses_filter", "review_item_clauses",
                    ["policy_id", "clause_id", "verdict", "item_id"])
    op.create_index("ix_review_item_clauses_item", "review_item_clauses", ["item_id"])
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("decided_ms", sa.BigInteger, nullable=False),
        sa.Column("final_action", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
    )
    op.create_index("ix_review_decisions_item", "review_decisions", ["item_id"])
    op.create_table(
        "review_decision_clauses",
        sa.Column("decision_id", sa.Integer, sa.ForeignKey("review_decisions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("policy_digest", sa.String(128), nullable=False),
        sa.Column("clause_id", sa.String(128), nullable=False),
        sa.Column("gavel_verdict", sa.String(16), nullable=False),
        sa.Column("judgement", sa.String(16), nullable=False),
    )
    op.create_index("ix_review_decision_clauses_decision", "review_decision_clauses", ["decision_id"])
    op.create_table(
        "review_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("item_id", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_review_audit_item", "review_audit", ["item_id", "id"])


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
