"""Reads of the review queue: filtered, keyset-paged listings, counts per state, one item with
its decisions and audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gavel.review.db import OnStore, audit, decision_clauses, decisions, item_clauses, items, now_ms

State = Literal["open", "claimed", "decided"]


class ReviewError(Exception):
    """A request refused: `status` is the HTTP status it maps to (404, 409, 422)."""

    def __init__(self, status: int, code: str, message: str, field_name: str = "item") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field_name


@dataclass(frozen=True)
class ItemFilter:
    state: State | None = "open"
    policy: str | None = None
    clause: str | None = None
    verdict: str | None = None
    author: str | None = None
    reason: str | None = None
    older_than_s: int | None = None
    newer_than_s: int | None = None


@dataclass
class ItemPage:
    items: list[dict[str, Any]]
    next_after: int | None


def state_expr(state: State, now: int) -> sa.ColumnElement[bool]:
    expired = sa.and_(items.c.state == "claimed", items.c.lease_until_ms < now)
    if state == "open":
        return sa.or_(items.c.state == "open", expired)
    if state == "claimed":
        return sa.and_(items.c.state == "claimed", items.c.lease_until_ms >= now)
    return items.c.state == "decided"


def effective_state(row: Any, now: int) -> str:
    if row.state == "claimed" and (row.lease_until_ms or 0) < now:
        return "open"
    return str(row.state)


class QueueReader(OnStore):

    # --- reading --------------------------------------------------------------------------

    def _where(self, f: ItemFilter, now: int) -> list[sa.ColumnElement[bool]]:
        where: list[sa.ColumnElement[bool]] = []
        if f.state is not None:
            where.append(state_expr(f.state, now))
        if f.author is not None:
            where.append(items.c.author_id == f.author)
        if f.reason is not None:
            where.append(items.c.reason == f.reason)
        if f.older_than_s is not None:
            where.append(items.c.created_ms <= now - f.older_than_s * 1000)
        if f.newer_than_s is not None:
            where.append(items.c.created_ms >= now - f.newer_than_s * 1000)
        inner: list[sa.ColumnElement[bool]] = []
        for column, value in (
            (item_clauses.c.policy_id, f.policy),
            (item_clauses.c.clause_id, f.clause),
            (item_clauses.c.verdict, f.verdict),
        ):
            if value is not None:
                inner.append(column == value)
        if inner:
            # one clause must match all of policy/clause/verdict ("threats that need review")
            where.append(sa.exists().where(item_clauses.c.item_id == items.c.id, *inner))
        return where

    def page(self, f: ItemFilter, after: int | None = None, limit: int = 50) -> ItemPage:
        """Oldest first (a queue), keyset-paged on the item id: as fast on page 200 as on page 1."""
        now = now_ms()
        where = self._where(f, now)
        if after is not None:
            where.append(items.c.id > after)
        columns = [c for c in items.c if c.name not in ("policies", "text")]
        query = sa.select(*columns, items.c.policies).where(*where).order_by(items.c.id).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return ItemPage([self._summary(r, now) for r in rows], int(rows[-1].id) if more and rows else None)

    def counts(self, f: ItemFilter) -> dict[str, int]:
        """Items per state under the filter (the filter's own state aside)."""
        now = now_ms()
        base = ItemFilter(**{**f.__dict__, "state": None})
        where = self._where(base, now)
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for state in ("open", "claimed", "decided"):
                q = sa.select(sa.func.count()).select_from(items).where(*where, state_expr(state, now))
                out[state] = int(conn.execute(q).scalar_one())
        return out

    @staticmethod
    def _summary(row: Any, now: int) -> dict[str, Any]:
        policies = json.loads(row.policies)
        flagged = [
            {"policy_id": p["policy_id"], "clause_id": c["clause_id"], "verdict": c["verdict"]}
            for p in policies
            for c in p.get("clauses", [])
            if c["verdict"] != "no_violation"
        ]
        return {
            "id": int(row.id),
            "post_id": row.post_id,
            "author_id": row.author_id,
            "created_ms": int(row.created_ms),
            "age_s": max(now - int(row.created_ms), 0) // 1000,
            "reason": row.reason,
            "action": row.action,
            "state": effective_state(row, now),
            "claimed_by": row.claimed_by if effective_state(row, now) == "claimed" else None,
            "lease_until_ms": row.lease_until_ms,
            "last_decided_by": row.last_decided_by,
            "appeals": int(row.appeals),
            "flagged": flagged,
        }

    def get(self, item_id: int) -> dict[str, Any]:
        now = now_ms()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
            if row is None:
                raise ReviewError(404, "not_found", f"no review item {item_id}")
            found = self._summary(row, now)
            found["text"] = row.text
            found["text_purged"] = bool(row.text_purged)
            found["policies"] = json.loads(row.policies)
            found["decisions"] = self._decisions(conn, [item_id])
            found["current_decision"] = row.current_decision
            found["audit"] = self.audit_log(item_id, conn=conn)
        return found

    def _decisions(self, conn: Connection, item_ids: Iterable[int]) -> list[dict[str, Any]]:
        rows = conn.execute(
            sa.select(decisions).where(decisions.c.item_id.in_(list(item_ids))).order_by(decisions.c.id)
        ).all()
        if not rows:
            return []
        by_decision: dict[int, list[dict[str, Any]]] = {int(r.id): [] for r in rows}
        for c in conn.execute(
            sa.select(decision_clauses).where(decision_clauses.c.decision_id.in_(list(by_decision)))
        ).all():
            by_decision[int(c.decision_id)].append(
                {
                    "policy_id": c.policy_id,
                    "policy_version": c.policy_version,
                    "policy_digest": c.policy_digest,
                    "clause_id": c.clause_id,
                    "gavel_verdict": c.gavel_verdict,
                    "judgement": c.judgement,
                }
            )
        return [
            {
                "id": int(r.id),
                "item_id": int(r.item_id),
                "reviewer": r.reviewer,
                "decided_ms": int(r.decided_ms),
                "final_action": r.final_action,
                "note": r.note,
                "round": int(r.round),
                "clauses": by_decision[int(r.id)],
            }
            for r in rows
        ]

    def audit_log(
        self, item_id: int | None = None, limit: int = 200, conn: Connection | None = None
    ) -> list[dict[str, Any]]:
        q = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
        if item_id is not None:
            q = q.where(audit.c.item_id == item_id)
        if conn is None:
            with self.engine.connect() as own:
                rows = own.execute(q).all()
        else:
            rows = conn.execute(q).all()
        return [
            {
                "id": int(r.id),
                "at_ms": int(r.at_ms),
                "item_id": r.item_id,
                "actor": r.actor,
                "event": r.event,
                "detail": json.loads(r.detail),
            }
            for r in rows
        ]
