"""The verdict store: every decision, with its per-clause verdicts and evidence, for dashboards.

One SQL implementation for SQLite (`sqlite:///path`, the default) and PostgreSQL
(`postgresql://...`): the queries are plain SQL both accept, `?` placeholders rewritten to `%s`
for psycopg. The store is synchronous on purpose: the API and the worker call it from a writer
thread (`VerdictRecorder`) or `asyncio.to_thread`, never on the event loop.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from gavel.engine.results import EvaluationResult
from gavel.stream.migrations import Dialect, migrate

StoreText = Literal["hash", "text", "none"]
BUCKETS: dict[str, int] = {"minute": 60, "hour": 3_600, "day": 86_400}


class StoreError(RuntimeError):
    pass


# --- what is stored -------------------------------------------------------------------------


class StoredClause(BaseModel):
    clause_id: str
    verdict: str
    score: float
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    exceptions: list[dict[str, Any]] = Field(default_factory=list)
    explanation: str = ""


class StoredPolicy(BaseModel):
    policy_id: str
    version: str
    digest: str
    action: str
    clauses: list[StoredClause] = Field(default_factory=list)


class StoredDecision(BaseModel):
    id: str = Field(description="the caller's post id, or the record's uid when the caller gave none")
    uid: str = Field(description="this record's own id (a post evaluated twice has two records)")
    created_at: datetime
    source: str = Field(description="http or worker")
    author_id: str | None = None
    action: str
    policies_violated: list[str]
    models: list[dict[str, str]]
    text: str | None = Field(default=None, description="only when the store keeps texts (store_text=text)")
    text_sha256: str | None = None
    timing_ms: float
    policies: list[StoredPolicy]


def record_from(
    result: EvaluationResult,
    text: str,
    source: str,
    author_id: str | None,
    store_text: StoreText,
    now: datetime | None = None,
) -> StoredDecision:
    uid = uuid.uuid4().hex
    return StoredDecision(
        id=result.id or uid,
        uid=uid,
        created_at=now or datetime.now(UTC),
        source=source,
        author_id=author_id,
        action=result.decision.action.value,
        policies_violated=list(result.decision.policies_violated),
        models=[m.model_dump() for m in result.models],
        text=text if store_text == "text" else None,
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest() if store_text != "none" else None,
        timing_ms=result.timing_ms,
        policies=[
            StoredPolicy(
                policy_id=p.policy_id,
                version=p.version,
                digest=p.digest,
                action=p.action.value,
                clauses=[
                    StoredClause(
                        clause_id=c.clause_id,
                        verdict=c.verdict.value,
                        score=c.score,
                        evidence=[e.model_dump(exclude_none=True) for e in c.evidence],
                        exceptions=[x.model_dump(mode="json") for x in c.exceptions],
                        explanation=c.explanation,
                    )
                    for c in p.clauses
                ],
            )
            for p in result.policies
        ],
    )


# --- what is asked --------------------------------------------------------------------------


@dataclass(frozen=True)
class VerdictQuery:
    policy: str | None = None
    clause: str | None = None
    verdict: str | None = None
    author: str | None = None
    id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None  # the cursor: records older than this one
    limit: int = 50


@dataclass(frozen=True)
class Page:
    records: list[StoredDecision]
    next_seq: int | None


@dataclass(frozen=True)
class StatsRow:
    start: datetime
    policy_id: str
    clause_id: str
    verdict: str
    count: int


@dataclass(frozen=True)
class ActionRow:
    start: datetime
    action: str
    count: int


@dataclass(frozen=True)
class Stats:
    clauses: list[StatsRow]
    actions: list[ActionRow]


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, seq = raw.split(":", 1)
        if tag != "v1" or not seq.isdigit() or int(seq) >= 2**63:  # BIGINT range
            raise ValueError
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor this API gave out") from exc


class VerdictStore(Protocol):
    def write(self, records: Sequence[StoredDecision]) -> None: ...

    def query(self, q: VerdictQuery) -> Page: ...

    def get(self, record_id: str) -> StoredDecision | None: ...

    def stats(
        self,
        since: datetime,
        until: datetime,
        bucket_s: int,
        policy: str | None = None,
        clause: str | None = None,
    ) -> Stats: ...

    def close(self) -> None: ...


# --- SQL ------------------------------------------------------------------------------------


def _ms(t: datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)  # naive times in queries are UTC, like the stored ones
    return int(t.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


_DECISION = (
    "uid",
    "id",
    "created_ms",
    "source",
    "author_id",
    "action",
    "policies_violated",
    "models",
    "text",
    "text_sha256",
    "timing_ms",
)
_POLICY = ("decision_uid", "position", "policy_id", "version", "digest", "action")
_CLAUSE = (
    "decision_uid",
    "position",
    "created_ms",
    "author_id",
    "policy_id",
    "clause_id",
    "verdict",
    "score",
    "evidence",
    "exceptions",
    "explanation",
)


# Bound parameters per INSERT: under SQLite's 32,766 and PostgreSQL's 65,535.
_MAX_PARAMS = 30_000


def _inserts(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Iterator[tuple[str, list[Any]]]:
    """Multi-row INSERTs. Not executemany: that releases and retakes the GIL once per row, and
    while the event loop thread is busy evaluating, each retake waits a switch interval (5 ms),
    which caps the writer thread at a few hundred rows a second (the convoy effect)."""
    one = "(" + ", ".join("?" * len(columns)) + ")"
    per = max(_MAX_PARAMS // len(columns), 1)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * len(chunk))
        yield sql, [value for row in chunk for value in row]


def _select(columns: tuple[str, ...], alias: str = "") -> str:
    return ", ".join(f"{alias}{c}" for c in columns)


class SqlVerdictStore:
    """SQLite or PostgreSQL: one connection for the writer thread, one for readers, each locked."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite://"):
            self.dialect: Dialect = "sqlite"
            self._path = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            self._path = url
        else:
            scheme = url.split(":", 1)[0]
            raise StoreError(f"store_url must start with sqlite:/// or postgresql://, not {scheme!r}")
        self._memory = self._path == ":memory:"
        self._write_lock = threading.Lock()
        # an in-memory SQLite database lives in one connection: readers must share the writer's
        self._read_lock = self._write_lock if self._memory else threading.Lock()
        self._writer: Any = None
        self._reader: Any = None
        with self._write_lock:
            migrate(self._connection("writer"), self.dialect)

    def _sql(self, text: str) -> str:
        return text if self.dialect == "sqlite" else text.replace("?", "%s")

    def _open(self, autocommit: bool) -> Any:
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            if not self._memory:
                conn.execute("PRAGMA journal_mode=WAL")  # readers don't wait for the writer
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            return conn
        import psycopg

        return psycopg.connect(self._path, autocommit=autocommit)

    def _connection(self, role: Literal["writer", "reader"]) -> Any:
        if role == "reader" and self._memory:
            role = "writer"
        conn = self._writer if role == "writer" else self._reader
        if conn is not None and self.dialect == "postgresql" and (conn.closed or conn.broken):
            conn = None
        if conn is None:
            conn = self._open(autocommit=role == "reader")
            if role == "writer":
                self._writer = conn
            else:
                self._reader = conn
        return conn

    def _drop(self, role: Literal["writer", "reader"]) -> None:
        conn = self._writer if role == "writer" else self._reader
        if conn is not None and not self._memory:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                conn.close()
            if role == "writer":
                self._writer = None
            else:
                self._reader = None

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        with self._read_lock:
            try:
                yield self._connection("reader")
            except (sqlite3.Error, OSError) as exc:
                self._drop("reader")
                raise StoreError(f"verdict store read failed: {exc}") from exc
            except Exception as exc:
                if type(exc).__module__.startswith("psycopg"):
                    self._drop("reader")
                    raise StoreError(f"verdict store read failed: {exc}") from exc
                raise

    # --- writes ---------------------------------------------------------------------------

    def write(self, records: Sequence[StoredDecision]) -> None:
        if not records:
            return
        decisions: list[tuple[Any, ...]] = []
        policies: list[tuple[Any, ...]] = []
        clauses: list[tuple[Any, ...]] = []
        for r in records:
            ms = _ms(r.created_at)
            decisions.append(
                (
                    r.uid,
                    r.id,
                    ms,
                    r.source,
                    r.author_id,
                    r.action,
                    json.dumps(r.policies_violated),
                    json.dumps(r.models),
                    r.text,
                    r.text_sha256,
                    r.timing_ms,
                )
            )
            pos = 0
            for i, p in enumerate(r.policies):
                policies.append((r.uid, i, p.policy_id, p.version, p.digest, p.action))
                for c in p.clauses:
                    clauses.append(
                        (
                            r.uid,
                            pos,
                            ms,
                            r.author_id,
                            p.policy_id,
                            c.clause_id,
                            c.verdict,
                            c.score,
                            json.dumps(c.evidence),
                            json.dumps(c.exceptions),
                            c.explanation,
                        )
                    )
                    pos += 1
        with self._write_lock:
            conn = self._connection("writer")
            try:
                if self.dialect == "sqlite":
                    conn.execute("BEGIN IMMEDIATE")
                cur = conn.cursor()
                for table, columns, rows in (
                    ("decisions", _DECISION, decisions),
                    ("policy_results", _POLICY, policies),
                    ("clause_verdicts", _CLAUSE, clauses),
                ):
                    for sql, params in _inserts(table, columns, rows):
                        cur.execute(self._sql(sql), params)
                if self.dialect == "sqlite":
                    conn.execute("COMMIT")
                else:
                    conn.commit()
            except BaseException:
                try:
                    if self.dialect == "sqlite":
                        conn.execute("ROLLBACK")
                    else:
                        conn.rollback()
                except Exception:  # the connection itself may be what failed
                    self._drop("writer")
                raise

    # --- reads ----------------------------------------------------------------------------

    def query(self, q: VerdictQuery) -> Page:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("d.author_id", q.author), ("d.id", q.id), ("d.action", q.action)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if q.since is not None:
            where.append("d.created_ms >= ?")
            params.append(_ms(q.since))
        if q.until is not None:
            where.append("d.created_ms < ?")
            params.append(_ms(q.until))
        if q.before_seq is not None:
            where.append("d.seq < ?")
            params.append(q.before_seq)
        inner: list[str] = []
        for column, value in (
            ("c.policy_id", q.policy),
            ("c.clause_id", q.clause),
            ("c.verdict", q.verdict),
        ):
            if value is not None:
                inner.append(f"{column} = ?")
                params.append(value)
        if inner:
            # one clause row must match all of policy/clause/verdict: "dehumanization that violated"
            where.append(
                "EXISTS (SELECT 1 FROM clause_verdicts c WHERE c.decision_uid = d.uid AND " + " AND ".join(inner) + ")"
            )
        sql = (
            f"SELECT d.seq, {_select(_DECISION, 'd.')} FROM decisions d"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY d.seq DESC LIMIT ?"
        )
        params.append(q.limit + 1)
        with self._reading() as conn:
            rows = conn.execute(self._sql(sql), params).fetchall()
            more = len(rows) > q.limit
            rows = rows[: q.limit]
            records = self._assemble(conn, rows)
        return Page(records, int(rows[-1][0]) if more and rows else None)

    def get(self, record_id: str) -> StoredDecision | None:
        """The newest record of a post id (or of a record uid)."""
        sql = f"SELECT seq, {_select(_DECISION)} FROM decisions WHERE id = ? OR uid = ? ORDER BY seq DESC LIMIT 1"
        with self._reading() as conn:
            rows = conn.execute(self._sql(sql), (record_id, record_id)).fetchall()
            records = self._assemble(conn, rows)
        return records[0] if records else None

    def _assemble(self, conn: Any, rows: list[Any]) -> list[StoredDecision]:
        if not rows:
            return []
        uids = [r[1] for r in rows]
        marks = ", ".join("?" * len(uids))
        policies: dict[str, list[StoredPolicy]] = {u: [] for u in uids}
        by_uid = f"WHERE decision_uid IN ({marks}) ORDER BY decision_uid, position"
        policy_sql = f"SELECT decision_uid, policy_id, version, digest, action FROM policy_results {by_uid}"
        for uid, policy_id, version, digest, action in conn.execute(self._sql(policy_sql), uids).fetchall():
            policies[uid].append(StoredPolicy(policy_id=policy_id, version=version, digest=digest, action=action))
        clause_sql = (
            "SELECT decision_uid, policy_id, clause_id, verdict, score, evidence, exceptions, "
            f"explanation FROM clause_verdicts {by_uid}"
        )
        for uid, policy_id, clause_id, verdict, score, evidence, exceptions, why in conn.execute(
            self._sql(clause_sql), uids
        ).fetchall():
            owner = next((p for p in policies[uid] if p.policy_id == policy_id), None)
            if owner is not None:
                owner.clauses.append(
                    StoredClause(
                        clause_id=clause_id,
                        verdict=verdict,
                        score=float(score),
                        evidence=json.loads(evidence),
                        exceptions=json.loads(exceptions),
                        explanation=why,
                    )
                )
        return [
            StoredDecision(
                id=r[2],
                uid=r[1],
                created_at=_time(int(r[3])),
                source=r[4],
                author_id=r[5],
                action=r[6],
                policies_violated=json.loads(r[7]),
                models=json.loads(r[8]),
                text=r[9],
                text_sha256=r[10],
                timing_ms=float(r[11]),
                policies=policies[r[1]],
            )
            for r in rows
        ]

    def stats(
        self,
        since: datetime,
        until: datetime,
        bucket_s: int,
        policy: str | None = None,
        clause: str | None = None,
    ) -> Stats:
        bucket_ms = bucket_s * 1000
        # integer division on BIGINT in both dialects: the bucket's first millisecond
        bucket = "(created_ms / CAST(? AS BIGINT)) * CAST(? AS BIGINT)"
        where = ["created_ms >= ?", "created_ms < ?"]
        params: list[Any] = [bucket_ms, bucket_ms, _ms(since), _ms(until)]
        for column, value in (("policy_id", policy), ("clause_id", clause)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause_sql = (
            f"SELECT {bucket} AS b, policy_id, clause_id, verdict, COUNT(*) FROM clause_verdicts "
            f"WHERE {' AND '.join(where)} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        )
        if policy is None:
            action_sql = (
                f"SELECT {bucket} AS b, action, COUNT(*) FROM decisions "
                "WHERE created_ms >= ? AND created_ms < ? GROUP BY 1, 2 ORDER BY 1, 2"
            )
            action_params: list[Any] = [bucket_ms, bucket_ms, _ms(since), _ms(until)]
        else:
            action_sql = (
                f"SELECT {bucket.replace('created_ms', 'd.created_ms')} AS b, p.action, COUNT(*) "
                "FROM policy_results p JOIN decisions d ON d.uid = p.decision_uid "
                "WHERE d.created_ms >= ? AND d.created_ms < ? AND p.policy_id = ? "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            )
            action_params = [bucket_ms, bucket_ms, _ms(since), _ms(until), policy]
        with self._reading() as conn:
            clause_rows = conn.execute(self._sql(clause_sql), params).fetchall()
            action_rows = conn.execute(self._sql(action_sql), action_params).fetchall()
        return Stats(
            clauses=[StatsRow(_time(int(b)), p, c, v, int(n)) for b, p, c, v, n in clause_rows],
            actions=[ActionRow(_time(int(b)), a, int(n)) for b, a, n in action_rows],
        )

    def close(self) -> None:
        with self._write_lock:
            self._drop("writer")
            if self._memory and self._writer is not None:
                self._writer.close()
                self._writer = None
        if not self._memory:
            with self._read_lock:
                self._drop("reader")


def open_store(url: str) -> SqlVerdictStore:
    return SqlVerdictStore(url)
