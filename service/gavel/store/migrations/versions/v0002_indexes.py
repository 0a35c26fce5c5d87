"""indexes for the dashboard filters and /stats (was numbered migration 2)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = (
    ("decisions_id", "decisions", ["id", "seq"]),
    ("decisions_author", "decisions", ["author_id", "seq"]),
    ("decisions_created", "decisions", ["created_ms"]),
    ("clause_verdicts_filter", "clause_verdicts", ["policy_id", "clause_id", "verdict", "created_ms"]),
    ("clause_verdicts_created", "clause_verdicts", ["created_ms"]),
    ("clause_verdicts_verdict", "clause_verdicts", ["verdict", "created_ms"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
