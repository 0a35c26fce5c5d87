"""A durable, bounded local spool for verdict records on their way to the store database.

Every record goes through it: the recorder appends each batch here (a local SQLite transaction,
a millisecond) and a second thread ships the oldest records to the database, deleting them once
committed. So a database outage costs nothing but disk (records wait here, up to
`store_spool_max_records`, then new ones are dropped loudly), and a process killed with SIGKILL
loses only what was not yet appended (WAL with synchronous=NORMAL: a commit is in the OS page
cache, which survives the process; a power cut may lose the last commits).

Several processes (uvicorn workers, an API and a worker on one host) each lock their own slot
file (`spool-<n>.db`, flock); a restarted process takes a free slot, so the records a dead one
left behind are shipped by whoever takes its slot next.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
from pathlib import Path

MAX_SLOTS = 64


class SpoolError(RuntimeError):
    pass


def spool_dir_for(base: Path, store_url: str) -> Path:
    """One directory per store URL: records are never shipped to another database than their own."""
    return base / hashlib.sha256(store_url.encode()).hexdigest()[:16]


class Spool:
    def __init__(self, directory: Path, max_records: int) -> None:
        self.max_records = max_records
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create the spool directory {directory}: {exc.strerror}") from exc
        self._lock_fd, self.path = self._claim_slot(directory)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS buried (seq INTEGER PRIMARY KEY, record TEXT NOT NULL, reason TEXT NOT NULL)"
        )
        self._count = int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    @staticmethod
    def _claim_slot(directory: Path) -> tuple[int, Path]:
        for n in range(MAX_SLOTS):
            fd = os.open(directory / f"spool-{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd, directory / f"spool-{n}.db"
        raise SpoolError(f"all {MAX_SLOTS} spool slots in {directory} are held by running processes")

    def __len__(self) -> int:
        return self._count

    def append(self, records: list[str]) -> int:
        """Append JSON records; returns how many were kept (the rest did not fit)."""
        with self._lock:
            room = max(self.max_records - self._count, 0)
            kept = records[:room]
            if kept:
                with self._transaction():
                    self._db.executemany("INSERT INTO pending (record) VALUES (?)", [(r,) for r in kept])
                self._count += len(kept)
            return len(kept)

    def oldest(self, n: int) -> list[tuple[int, str]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, record FROM pending ORDER BY seq LIMIT ?", (n,)).fetchall()
        return [(int(seq), record) for seq, record in rows]

    def remove(self, through_seq: int) -> None:
        """Forget every pending record up to `through_seq` (shipped)."""
        with self._lock:
            with self._transaction():
                gone = self._db.execute("DELETE FROM pending WHERE seq <= ?", (through_seq,)).rowcount
            self._count -= gone

    def bury(self, seq: int, why: str) -> None:
        """A record neither the database nor its dead-letter table would take: kept here, aside."""
        with self._lock:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO buried (seq, record, reason) SELECT seq, record, ? FROM pending WHERE seq = ?",
                    (why, seq),
                )
                gone = self._db.execute("DELETE FROM pending WHERE seq = ?", (seq,)).rowcount
            self._count -= gone

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            os.close(self._lock_fd)  # releases the slot


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
