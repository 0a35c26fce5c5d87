"""each policy result's language coverage (whether the policy's rules cover the post's language)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: records written before (and results of policies without a language) have none
    op.add_column("policy_results", sa.Column("coverage", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_results") as batch:
        batch.drop_column("coverage")
