"""One SQLAlchemy engine for the verdict store, SQLite or PostgreSQL, and the errors it raises.

SQLAlchemy decides what is a dialect difference; the only thing said here is how Gavel wants each
engine to behave: SQLite in WAL mode with foreign keys, PostgreSQL through psycopg 3 with a short
connect timeout (so a read during an outage answers 503 fast) and pre-ping (a connection the
server dropped is replaced, not reported as a failure).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from gavel.errors import GavelError

CONNECT_TIMEOUT_S = 3


class StoreError(GavelError):
    """The verdict store failed. `str()` never names the host, port or user: it reaches HTTP bodies."""


class StoreUnavailable(StoreError):
    """The database could not be reached (or dropped the connection): retry later."""


def store_url(url: str) -> URL:
    """`sqlite:///path` or `postgresql://...` (also `postgres://`); PostgreSQL goes through psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError("store_url must look like sqlite:///path or postgresql://user@host/db") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise StoreError(f"store_url must start with sqlite:/// or postgresql://, not {backend!r}")


def build_engine(url: str) -> Engine:
    parsed = store_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            pool_pre_ping=True,
            # the process's one pool: the recorder's two threads, the dashboard reads, and the review
            # console (a key check per request, claims and decisions)
            pool_size=5,
            max_overflow=5,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )
    memory = parsed.database in (None, "", ":memory:")
    engine = create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": 30},
        # an in-memory database lives in one connection: every user must share it
        **({"poolclass": StaticPool} if memory else {}),
    )
    _sqlite_behaviour(engine, wal=not memory)
    return engine


def _sqlite_behaviour(engine: Engine, wal: bool) -> None:
    """pysqlite's own transaction handling is off; SQLAlchemy's BEGIN is emitted instead, as
    `BEGIN IMMEDIATE` when asked (the migration lock), so DDL is transactional too."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers don't wait for the writer
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "BEGIN")


def is_unavailable(exc: BaseException) -> bool:
    """The database (or the way to it) failed, not the statement: the records must wait, not be
    dead-lettered. SQLAlchemy classifies disconnects for every dialect."""
    if isinstance(exc, DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)
    return isinstance(exc, OSError | TimeoutError)


def reason(exc: BaseException) -> str:
    """A short reason for logs and dead letters: the class and the driver's first line, without
    SQLAlchemy's echo of the statement and its parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = str(exc.orig).strip().splitlines()
        return f"{type(exc.orig).__name__}: {first[0] if first else ''}"
    if isinstance(exc, SQLAlchemyError):
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return f"{type(exc).__name__}: {exc}"
