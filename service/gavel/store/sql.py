"""The verdict store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Synchronous on purpose: the recorder's thread writes and the API reads through
`asyncio.to_thread`, never on the event loop. The database is reached lazily: opening a store
never connects, so a process starts while its database is down (`ensure_schema` is what
connects and migrates, and the recorder calls it until it works).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Insert,
    Table,
    and_,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from gavel.store import schema
from gavel.store.engine import StoreError, StoreUnavailable, build_engine, is_unavailable, reason
from gavel.store.migrate import MigrationError, migrate
from gavel.store.records import (
    ActionRow,
    Page,
    Stats,
    StatsRow,
    StoredDecision,
    VerdictQuery,
    from_ms,
    to_ms,
)

log = logging.getLogger("gavel.store")

StoreState = Literal["unknown", "ok", "unavailable"]
# Bound parameters per INSERT: under SQLite's 32,766 and PostgreSQL's 65,535.
_MAX_PARAMS = 30_000
_DECISION_COLUMNS = frozenset(schema.decisions.c.keys()) - {"seq", "created_ms"}
_POLICY_COLUMNS = frozenset(schema.policy_results.c.keys()) - {"decision_uid", "position"}
_CLAUSE_COLUMNS = frozenset(schema.clause_verdicts.c.keys()) - {"decision_uid", "position", "created_ms", "author_id",
                                                                  "policy_id"}


@dataclass(frozen=True)
class DeadLetter:
    record: StoredDecision
    reason: str


@dataclass
class _Rows:
    decisions: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    clauses: list[dict[str, Any]]


def _rows(records: Sequence[StoredDecision]) -> _Rows:
    """Table rows from the records' own dumps: a column is filled from the field of its name."""
    out = _Rows([], [], [])
    for r in records:
        dumped = r.model_dump(mode="json")
        ms = to_ms(r.created_at)
        out.decisions.append({**{k: dumped[k] for k in _DECISION_COLUMNS}, "created_ms": ms})
        position = 0
        for i, policy in enumerate(dumped["policies"]):
            out.policies.append({"decision_uid": r.uid, "position": i, **{k: policy[k] for k in _POLICY_COLUMNS}})
            for clause in policy["clauses"]:
                out.clauses.append(
                    {
                        "decision_uid": r.uid,
                        "position": position,
                        "created_ms": ms,
                        "author_id": r.author_id,
                        "policy_id": policy["policy_id"],
                        **{k: clause[k] for k in _CLAUSE_COLUMNS},
                    }
                )
                position += 1
    return out


class SqlVerdictStore:
    def __init__(self, url: str) -> None:
        self.engine = build_engine(url)
        self.dialect = self.engine.dialect.name
        self.state: StoreState = "unknown"
        self.last_failure: str | None = None  # the reason, for logs and /readyz; never host or user
        self.failed_since: float | None = None
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    # --- state ------------------------------------------------------------------------------

    def _ok(self) -> None:
        self.state, self.last_failure, self.failed_since = "ok", None, None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        if self.state != "unavailable":
            self.failed_since = time.time()
        self.state, self.last_failure = "unavailable", reason(exc)
        return StoreUnavailable("the verdict store is unreachable")

    def failed(self, exc: BaseException) -> StoreError:
        """The error to raise for a database failure met outside the store's own calls (the
        review console's, on this engine): an outage updates `state` like the store's own."""
        if is_unavailable(exc):
            return self._unavailable(exc)
        log.error("verdict store query failed: %s", reason(exc))
        return StoreError("the verdict store could not answer this query")

    def ensure_schema(self) -> None:
        """Connect and migrate, once. Raises StoreUnavailable while the database is down."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            try:
                migrate(self.engine)
            except MigrationError:
                raise
            except (SQLAlchemyError, OSError) as exc:
                raise self._unavailable(exc) from exc
            self._schema_ready = True
            self._ok()

    def ping(self) -> None:
        """Connect (migrating first if never done) and run a trivial query, to keep `state` true
        while nothing is written. Raises StoreUnavailable."""
        self.ensure_schema()
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc) from exc
        self._ok()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        self.ensure_schema()
        try:
            with self.engine.connect() as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise self.failed(exc) from exc

    # --- writes -----------------------------------------------------------------------------

    def _insert(self, table: Table) -> Insert:
        # idempotent: a record the spool ships twice (a crash between commit and spool delete) is written once
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return dialect_insert(table).on_conflict_do_nothing()

    def _write_rows(self, conn: Connection, rows: _Rows) -> None:
        for table, values in (
            (schema.decisions, rows.decisions),
            (schema.policy_results, rows.policies),
            (schema.clause_verdicts, rows.clauses),
        ):
            # multi-row VALUES, not executemany: one round trip and one GIL release per chunk
            per = max(_MAX_PARAMS // len(table.c), 1)
            for start in range(0, len(values), per):
                conn.execute(self._insert(table).values(values[start : start + per]))

    def write(self, records: Sequence[StoredDecision]) -> list[DeadLetter]:
        """Write the records in one transaction. When the database refuses the batch for a reason
        of its own (a NUL byte PostgreSQL cannot store, ...), each record is written alone and the
        ones still refused are kept in `dead_letters` with the reason (and returned); the others
        are written. Raises StoreUnavailable when the database cannot be reached: nothing is lost,
        the caller keeps the records and tries again later."""
        if not records:
            return []
        self.ensure_schema()
        try:
            with self.engine.begin() as conn:
                self._write_rows(conn, _rows(records))
        except (SQLAlchemyError, OSError) as exc:
            if is_unavailable(exc):
                raise self._unavailable(exc) from exc
            if len(records) == 1:
                return [self._dead_letter(records[0], reason(exc))]
            return [dead for r in records for dead in self.write([r])]
        self._ok()
        return []

    def _dead_letter(self, record: StoredDecision, why: str) -> DeadLetter:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    schema.dead_letters.insert().values(
                        uid=record.uid, created_ms=to_ms(record.created_at), reason=why, record=record.model_dump_json()
                    )
                )
        except (SQLAlchemyError, OSError) as exc:
            if is_unavailable(exc):
                raise self._unavailable(exc) from exc
            raise StoreError(f"record {record.uid} refused ({why}) and its dead letter too ({reason(exc)})") from exc
        return DeadLetter(record, why)

    def dead_letters(self, limit: int = 100) -> list[tuple[str, str]]:
        """The newest dead letters as (uid, reason)."""
        t = schema.dead_letters
        with self._reading() as conn:
            rows = conn.execute(select(t.c.uid, t.c.reason).order_by(t.c.seq.desc()).limit(limit)).all()
        return [(uid, why) for uid, why in rows]

    # --- reads ------------------------------------------------------------------------------

    def query(self, q: VerdictQuery) -> Page:
        d, c = schema.decisions, schema.clause_verdicts
        where = [col == value for col, value in ((d.c.author_id, q.author), (d.c.id, q.id), (d.c.action, q.action))
                 if value is not None]
        if q.since is not None:
            where.append(d.c.created_ms >= to_ms(q.since))
        if q.until is not None:
            where.append(d.c.created_ms < to_ms(q.until))
        if q.before_seq is not None:
            where.append(d.c.seq < q.before_seq)
        inner = [col == value for col, value in ((c.c.policy_id, q.policy), (c.c.clause_id, q.clause),
                                                 (c.c.verdict, q.verdict)) if value is not None]
        if q.clause is not None and q.verdict is None:
            inner.append(c.c.verdict != "no_violation")  # "posts that hit this clause"
        if inner:
            # one clause row must match all of policy/clause/verdict: "dehumanization that violated"
            where.append(exists().where(c.c.decision_uid == d.c.uid, *inner))
        stmt = select(d).where(and_(True, *where)).order_by(d.c.seq.desc()).limit(q.limit + 1)
        with self._reading() as conn:
            rows = conn.execute(stmt).mappings().all()
            more = len(rows) > q.limit
            rows = rows[: q.limit]
            records = self._assemble(conn, rows)
        return Page(records, int(rows[-1]["seq"]) if more and rows else None)

    def get(self, record_id: str) -> StoredDecision | None:
        """The newest record of a post id (or of a record uid)."""
        d = schema.decisions
        stmt = select(d).where(or_(d.c.id == record_id, d.c.uid == record_id)).order_by(d.c.seq.desc()).limit(1)
        with self._reading() as conn:
            records = self._assemble(conn, conn.execute(stmt).mappings().all())
        return records[0] if records else None

    def _assemble(self, conn: Connection, rows: Sequence[Any]) -> list[StoredDecision]:
        if not rows:
            return []
        p, c = schema.policy_results, schema.clause_verdicts
        uids = [r["uid"] for r in rows]
        policies: dict[str, list[dict[str, Any]]] = {u: [] for u in uids}
        for row in conn.execute(select(p).where(p.c.decision_uid.in_(uids)).order_by(p.c.decision_uid, p.c.position)):
            policies[row.decision_uid].append({**row._asdict(), "clauses": []})
        for row in conn.execute(select(c).where(c.c.decision_uid.in_(uids)).order_by(c.c.decision_uid, c.c.position)):
            owner = next((x for x in policies[row.decision_uid] if x["policy_id"] == row.policy_id), None)
            if owner is not None:
                owner["clauses"].append(row._asdict())
        return [
            StoredDecision.model_validate(
                {**r, "created_at": from_ms(int(r["created_ms"])), "policies": policies[r["uid"]]}
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
        d, p, c = schema.decisions, schema.policy_results, schema.clause_verdicts
        # integer division in both dialects; a literal (not a parameter) so GROUP BY sees the same expression
        width: ColumnElement[int] = literal_column(str(int(bucket_s) * 1000), BigInteger)
        clause_bucket = ((c.c.created_ms // width) * width).label("b")
        filters = [c.c.created_ms >= to_ms(since), c.c.created_ms < to_ms(until)]
        filters += [col == v for col, v in ((c.c.policy_id, policy), (c.c.clause_id, clause)) if v is not None]
        keys = (clause_bucket, c.c.policy_id, c.c.clause_id, c.c.verdict)
        clause_stmt = select(*keys, func.count()).where(*filters).group_by(*keys).order_by(*keys)
        decision_bucket = ((d.c.created_ms // width) * width).label("b")
        window = (d.c.created_ms >= to_ms(since), d.c.created_ms < to_ms(until))
        if policy is None:
            action_stmt = select(decision_bucket, d.c.action, func.count()).where(*window)
            action_keys: tuple[Any, ...] = (decision_bucket, d.c.action)
        else:
            action_stmt = (
                select(decision_bucket, p.c.action, func.count())
                .join_from(p, d, d.c.uid == p.c.decision_uid)
                .where(*window, p.c.policy_id == policy)
            )
            action_keys = (decision_bucket, p.c.action)
        action_stmt = action_stmt.group_by(*action_keys).order_by(*action_keys)
        with self._reading() as conn:
            clause_rows = conn.execute(clause_stmt).all()
            action_rows = conn.execute(action_stmt).all()
        return Stats(
            clauses=[StatsRow(from_ms(int(b)), pid, cid, v, int(n)) for b, pid, cid, v, n in clause_rows],
            actions=[ActionRow(from_ms(int(b)), a, int(n)) for b, a, n in action_rows],
        )

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> SqlVerdictStore:
    """A store for `url`; connects nothing (see `ensure_schema`). Raises StoreError on a bad URL."""
    return SqlVerdictStore(url)
