"""The review queue's state machine: open -> claimed (a lease) -> decided, and appeal -> open.

Every transition is one conditional UPDATE (`... WHERE state = <expected>`) checked by its row
count, in the same transaction as its audit row: of concurrent claims of one item exactly one
changes a row, the others see 0 rows and get a conflict. A claim whose lease ran out counts as
open, so an abandoned item returns to the queue without a sweeper.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gavel.review.db import audit, decision_clauses, decisions, item_clauses, items, now_ms
from gavel.review.reads import ItemFilter, QueueReader, ReviewError, effective_state, state_expr
from gavel.store.sql import SqlVerdictStore

Judgement = Literal["uphold", "overturn"]
FINAL_ACTIONS = ("allow", "remove")


@dataclass(frozen=True)
class Entry:
    """A post entering the queue: the stored record's fields the reviewer needs, and its text."""

    record_uid: str
    post_id: str
    author_id: str | None
    created_ms: int
    reason: str  # review | sample_allow | sample_remove
    action: str
    text: str
    policies: list[dict[str, Any]]  # StoredPolicy dumps: policy_id, version, digest, action, clauses


@dataclass
class ClauseJudgement:
    policy_id: str
    clause_id: str
    judgement: Judgement


def _log(conn: Connection, item_id: int | None, actor: str, event: str, **detail: Any) -> None:
    conn.execute(
        sa.insert(audit).values(
            at_ms=now_ms(), item_id=item_id, actor=actor, event=event, detail=json.dumps(detail, sort_keys=True)
        )
    )


class ReviewQueue(QueueReader):
    def __init__(self, store: SqlVerdictStore, lease_s: int = 600) -> None:
        self.store = store
        self.lease_s = lease_s

    # --- entering -------------------------------------------------------------------------

    def enqueue(self, entries: Sequence[Entry]) -> int:
        """Queue the entries whose record is not queued yet; returns how many were new. Idempotent:
        the recorder's shipper hands a batch on again when a try failed half-way."""
        if not entries:
            return 0
        with self.engine.begin() as conn:
            uids = [e.record_uid for e in entries]
            queued = set(conn.execute(sa.select(items.c.record_uid).where(items.c.record_uid.in_(uids))).scalars())
            fresh = [e for e in entries if e.record_uid not in queued]
            for e in fresh:
                item_id = conn.execute(
                    sa.insert(items).values(
                        record_uid=e.record_uid,
                        post_id=e.post_id,
                        author_id=e.author_id,
                        created_ms=e.created_ms,
                        reason=e.reason,
                        action=e.action,
                        text=e.text,
                        text_purged=False,
                        policies=json.dumps(e.policies),
                        state="open",
                        appeals=0,
                    )
                ).inserted_primary_key
                assert item_id is not None
                rows = [
                    {
                        "item_id": item_id[0],
                        "policy_id": p["policy_id"],
                        "policy_version": p["version"],
                        "clause_id": c["clause_id"],
                        "verdict": c["verdict"],
                    }
                    for p in e.policies
                    for c in p.get("clauses", [])
                ]
                if rows:
                    conn.execute(sa.insert(item_clauses), rows)
                _log(conn, int(item_id[0]), "gavel", "enqueued", reason=e.reason, action=e.action)
        return len(fresh)

    # --- transitions ----------------------------------------------------------------------

    def claim(self, item_id: int, reviewer: str) -> dict[str, Any]:
        now = now_ms()
        with self.engine.begin() as conn:
            before = conn.execute(
                sa.select(items.c.state, items.c.claimed_by, items.c.lease_until_ms).where(items.c.id == item_id)
            ).first()
            if before is None:
                raise ReviewError(404, "not_found", f"no review item {item_id}")
            result = conn.execute(
                sa.update(items)
                .where(
                    items.c.id == item_id,
                    state_expr("open", now),
                    # an appealed item goes to someone other than who decided it last
                    sa.or_(items.c.last_decided_by.is_(None), items.c.last_decided_by != reviewer),
                )
                .values(state="claimed", claimed_by=reviewer, lease_until_ms=now + self.lease_s * 1000)
            )
            if result.rowcount != 1:
                raise self._why_not_claimable(conn, item_id, reviewer, now)
            expired = before.claimed_by if before.state == "claimed" else None
            _log(conn, item_id, reviewer, "claimed", lease_s=self.lease_s, expired_claim_of=expired)
        return self.get(item_id)

    @staticmethod
    def _why_not_claimable(conn: Connection, item_id: int, reviewer: str, now: int) -> ReviewError:
        row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
        if row is None:
            return ReviewError(404, "not_found", f"no review item {item_id}")
        state = effective_state(row, now)
        if state == "claimed":
            return ReviewError(409, "already_claimed", f"item {item_id} is claimed by {row.claimed_by}")
        if state == "decided":
            return ReviewError(409, "already_decided", f"item {item_id} is decided (appeal it to reopen)")
        return ReviewError(
            409, "needs_other_reviewer", f"item {item_id} was appealed: a reviewer other than {reviewer} decides it"
        )

    def claim_next(self, reviewer: str, f: ItemFilter) -> dict[str, Any] | None:
        """Claim the oldest open item under the filter that this reviewer may take; None if none."""
        f = ItemFilter(**{**f.__dict__, "state": "open"})
        after: int | None = None
        for _ in range(20):  # others may claim the same items meanwhile: move on past them
            page = self.page(f, after, limit=10)
            for summary in page.items:
                if summary["last_decided_by"] == reviewer:
                    continue
                try:
                    return self.claim(int(summary["id"]), reviewer)
                except ReviewError as exc:
                    if exc.status != 409:
                        raise
            if page.next_after is None:
                return None
            after = page.next_after
        return None

    def release(self, item_id: int, reviewer: str) -> None:
        now = now_ms()
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(items)
                .where(items.c.id == item_id, state_expr("claimed", now), items.c.claimed_by == reviewer)
                .values(state="open", claimed_by=None, lease_until_ms=None)
            )
            if result.rowcount != 1:
                raise ReviewError(409, "not_claimed", f"item {item_id} is not claimed by {reviewer}")
            _log(conn, item_id, reviewer, "released")

    def decide(
        self,
        item_id: int,
        reviewer: str,
        final_action: str,
        note: str = "",
        judgements: Sequence[ClauseJudgement] = (),
    ) -> dict[str, Any]:
        if final_action not in FINAL_ACTIONS:
            raise ReviewError(422, "invalid_request", "final_action must be allow or remove", "final_action")
        now = now_ms()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
            if row is None:
                raise ReviewError(404, "not_found", f"no review item {item_id}")
            clauses = self._judged_clauses(json.loads(row.policies), judgements)
            round_no = int(row.appeals) + 1
            result = conn.execute(
                sa.update(items)
                .where(items.c.id == item_id, state_expr("claimed", now), items.c.claimed_by == reviewer)
                .values(state="decided", claimed_by=None, lease_until_ms=None, last_decided_by=reviewer)
            )
            if result.rowcount != 1:
                raise ReviewError(
                    409, "not_claimed", f"item {item_id} is not claimed by {reviewer} (claim it first; leases expire)"
                )
            decision_id = conn.execute(
                sa.insert(decisions).values(
                    item_id=item_id,
                    reviewer=reviewer,
                    decided_ms=now,
                    final_action=final_action,
                    note=note,
                    round=round_no,
                )
            ).inserted_primary_key
            assert decision_id is not None
            conn.execute(sa.insert(decision_clauses), [{"decision_id": decision_id[0], **c} for c in clauses])
            conn.execute(sa.update(items).where(items.c.id == item_id).values(current_decision=decision_id[0]))
            overturned = [f"{c['policy_id']}/{c['clause_id']}" for c in clauses if c["judgement"] == "overturn"]
            _log(
                conn,
                item_id,
                reviewer,
                "decided",
                decision=int(decision_id[0]),
                final_action=final_action,
                round=round_no,
                overturned=overturned,
                note=note,
            )
        return self.get(item_id)

    @staticmethod
    def _judged_clauses(policies: list[dict[str, Any]], judgements: Sequence[ClauseJudgement]) -> list[dict[str, Any]]:
        """Every clause of every policy gets a judgement: the ones given, `uphold` for the rest."""
        given = {(j.policy_id, j.clause_id): j.judgement for j in judgements}
        known = {(p["policy_id"], c["clause_id"]) for p in policies for c in p.get("clauses", [])}
        unknown = sorted(set(given) - known)
        if unknown:
            policy_id, clause_id = unknown[0]
            raise ReviewError(422, "invalid_request", f"this item has no clause {policy_id}/{clause_id}", "judgements")
        return [
            {
                "policy_id": p["policy_id"],
                "policy_version": p["version"],
                "policy_digest": p["digest"],
                "clause_id": c["clause_id"],
                "gavel_verdict": c["verdict"],
                "judgement": given.get((p["policy_id"], c["clause_id"]), "uphold"),
            }
            for p in policies
            for c in p.get("clauses", [])
        ]

    def appeal(self, item_id: int, actor: str, note: str = "") -> dict[str, Any]:
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(items)
                .where(items.c.id == item_id, items.c.state == "decided")
                .values(state="open", appeals=items.c.appeals + 1)
            )
            if result.rowcount != 1:
                exists = conn.execute(sa.select(items.c.id).where(items.c.id == item_id)).first()
                if exists is None:
                    raise ReviewError(404, "not_found", f"no review item {item_id}")
                raise ReviewError(409, "not_decided", f"item {item_id} is not decided: only a decision can be appealed")
            _log(conn, item_id, actor, "appealed", note=note)
        return self.get(item_id)

    # --- retention ------------------------------------------------------------------------

    def purge_texts(self, older_than_s: int, actor: str = "gavel") -> int:
        """Forget the text of posts queued more than `older_than_s` ago (decisions stay)."""
        cutoff = now_ms() - older_than_s * 1000
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(items)
                .where(items.c.created_ms < cutoff, items.c.text_purged.is_(False))
                .values(text=None, text_purged=True)
            )
            purged = int(result.rowcount)
            if purged:
                _log(conn, None, actor, "purged_texts", items=purged, older_than_s=older_than_s)
        return purged
