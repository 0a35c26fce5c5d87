"""decisions, policy results and clause verdicts (was numbered migration 1)

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.Text, nullable=False, unique=True),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("author_id", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("policies_violated", sa.Text, nullable=False),
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("text_sha256", sa.Text),
        sa.Column("timing_ms", sa.Double, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "policy_results",
        sa.Column("decision_uid", sa.Text, sa.ForeignKey("decisions.uid", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("policy_id", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
    )
    op.create_table(
        "clause_verdicts",
        sa.Column("decision_uid", sa.Text, sa.ForeignKey("decisions.uid", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("author_id", sa.Text),
        sa.Column("policy_id", sa.Text, nullable=False),
        sa.Column("clause_id", sa.Text, nullable=False),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("exceptions", sa.Text, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("clause_verdicts", "policy_results", "decisions"):
        op.drop_table(table)
