"""the decision's reasons on each record; dead letters for records the database refuses

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a server default, so records written before (and by an older Gavel still running) read as []
    op.add_column("decisions", sa.Column("reasons", sa.Text, nullable=False, server_default="[]"))
    op.create_table(
        "dead_letters",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("reasons")
