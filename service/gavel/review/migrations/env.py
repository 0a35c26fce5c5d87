"""Alembic environment for the review tables: always run on a connection handed over by
`gavel.review.db.migrate`, with the review console's own version table."""

from __future__ import annotations

from alembic import context

from gavel.review.db import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
