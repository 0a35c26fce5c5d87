"""Bring the store's schema to the newest version at start, with Alembic, under a lock.

The migrations ship inside the package (`gavel/store/migrations/versions`) and run
programmatically: no `alembic.ini`, no command for the operator to remember. A database created
by the numbered migrations of earlier Gavel releases (a `schema_migrations` table, versions 1-2)
is recognised: its version is stamped as the matching Alembic revision, then the newer revisions
run. The API and workers starting together never race: PostgreSQL takes an advisory lock,
SQLite a write lock (`BEGIN IMMEDIATE`), for the whole upgrade.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from gavel.store.engine import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x6761_7665_6C  # "gavel": one advisory lock for every migrating process
# the numbered migrations (schema_migrations.version) of releases before Alembic -> revision
LEGACY_REVISIONS = {1: "0001", 2: "0002"}


class MigrationError(StoreError):
    pass


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "the package ships at least one migration"
    return revision


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Apply the missing migrations (none when the schema is current)."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            _stamp_legacy(conn)
            try:
                command.upgrade(alembic_config(conn), "head")
            except CommandError as exc:
                raise MigrationError(
                    f"the verdict store's schema is at revision {current(conn)!r}, which this Gavel does not "
                    f"know (its newest is {head()!r}); upgrade Gavel or point it at another store"
                ) from exc


def _stamp_legacy(conn: Connection) -> None:
    tables = set(inspect(conn).get_table_names())
    if "schema_migrations" not in tables or "alembic_version" in tables:
        return
    applied = {int(v) for (v,) in conn.execute(text("SELECT version FROM schema_migrations"))}
    unknown = applied - LEGACY_REVISIONS.keys()
    if unknown:
        raise MigrationError(
            f"the verdict store is at schema version {max(unknown)}, newer than this Gavel knows; "
            "upgrade Gavel or point it at another store"
        )
    if applied:
        command.stamp(alembic_config(conn), LEGACY_REVISIONS[max(applied)])
