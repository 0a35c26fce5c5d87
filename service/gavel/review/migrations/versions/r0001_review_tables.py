"""review console: keys, queue items, decisions, audit log

Revision ID: r0001
Revises:
"""

from __future__ import annotations

from alembic import op

from gavel.review import db

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None

# The first revision creates the tables from their definitions in gavel.review.db. A later schema
# change is a new revision with explicit op.* operations (and this one must then keep a frozen
# copy of the definitions it created).
_TABLES = (db.keys, db.items, db.item_clauses, db.decisions, db.decision_clauses, db.audit)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
