"""Alembic's entry point for the verdict store; run programmatically by `gavel.store.migrate`,
which passes the connection (already inside a transaction that holds the migration lock)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import gavel.review.db  # noqa: F401  (the review console's tables join `metadata`)
from gavel.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the verdict store migrates itself at start (gavel.store.migrate); offline SQL is not supported")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
