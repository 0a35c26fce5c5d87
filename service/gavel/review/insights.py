"""Closing the loop: how often reviewers agree with Gavel, per-author views, and the decisions
exported as CSV, JSON Lines or a replay case file (a moderator's judgement as a regression test).

Only an item's current decision counts (after an appeal, the second reviewer's).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gavel.review.db import decision_clauses, decisions, items

FLAGGED = ("violates", "needs_review")


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def agreement(engine: Engine, policy: str | None = None) -> list[dict[str, Any]]:
    """Per policy version and clause: precision and recall of Gavel's flags (violates or
    needs_review) against the reviewers' judgements, per flag and together, and the overturn rate.

    A flagged clause upheld is a true positive, overturned a false positive; an unflagged clause
    overturned is a miss (false negative)."""
    q = (
        sa.select(
            decision_clauses.c.policy_id,
            decision_clauses.c.policy_version,
            decision_clauses.c.clause_id,
            decision_clauses.c.gavel_verdict,
            decision_clauses.c.judgement,
            sa.func.count(),
        )
        .select_from(decision_clauses.join(items, items.c.current_decision == decision_clauses.c.decision_id))
        .group_by(
            decision_clauses.c.policy_id,
            decision_clauses.c.policy_version,
            decision_clauses.c.clause_id,
            decision_clauses.c.gavel_verdict,
            decision_clauses.c.judgement,
        )
    )
    if policy is not None:
        q = q.where(decision_clauses.c.policy_id == policy)
    counts: dict[tuple[str, str, str], dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    with engine.connect() as conn:
        for policy_id, version, clause_id, verdict, judgement, n in conn.execute(q).all():
            counts[(policy_id, version, clause_id)][(verdict, judgement)] += int(n)
    rows = []
    for (policy_id, version, clause_id), c in sorted(counts.items()):
        missed = c[("no_violation", "overturn")]
        row: dict[str, Any] = {
            "policy_id": policy_id,
            "policy_version": version,
            "clause_id": clause_id,
            "reviewed": sum(c.values()),
            "overturned": sum(n for (_, j), n in c.items() if j == "overturn"),
        }
        row["overturn_rate"] = _ratio(row["overturned"], row["reviewed"])
        for flag in (*FLAGGED, "flagged"):
            kinds = FLAGGED if flag == "flagged" else (flag,)
            tp = sum(c[(k, "uphold")] for k in kinds)
            fp = sum(c[(k, "overturn")] for k in kinds)
            row[flag] = {
                "upheld": tp,
                "overturned": fp,
                "precision": _ratio(tp, tp + fp),
                # recall: of what reviewers found violating, the share Gavel flagged this way
                "recall": _ratio(tp, sum(c[(k, "uphold")] for k in FLAGGED) + missed),
            }
        rows.append(row)
    return rows


def current_decisions(engine: Engine, policy: str | None = None) -> Iterator[dict[str, Any]]:
    """Decided items with their current decision and its per-clause judgements, oldest first."""
    q = (
        sa.select(items, decisions.c.reviewer, decisions.c.decided_ms, decisions.c.final_action, decisions.c.note)
        .add_columns(decisions.c.round, decisions.c.id.label("decision_id"))
        .select_from(items.join(decisions, decisions.c.id == items.c.current_decision))
        .order_by(items.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
        ids = [int(r.decision_id) for r in rows]
        judged: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for start in range(0, len(ids), 500):
            for c in conn.execute(
                sa.select(decision_clauses).where(decision_clauses.c.decision_id.in_(ids[start : start + 500]))
            ).all():
                judged[int(c.decision_id)].append(dict(c._mapping))
    for r in rows:
        clauses = judged[int(r.decision_id)]
        if policy is not None and not any(c["policy_id"] == policy for c in clauses):
            continue
        yield {
            "decision_id": int(r.decision_id),
            "item_id": int(r.id),
            "post_id": r.post_id,
            "author_id": r.author_id,
            "text": r.text,
            "reason": r.reason,
            "gavel_action": r.action,
            "reviewer": r.reviewer,
            "decided_at": datetime.fromtimestamp(r.decided_ms / 1000, UTC).isoformat(),
            "round": int(r.round),
            "final_action": r.final_action,
            "note": r.note,
            "clauses": [
                {k: c[k] for k in ("policy_id", "policy_version", "clause_id", "gavel_verdict", "judgement")}
                for c in clauses
            ],
        }


CSV_COLUMNS = (
    "decision_id",
    "item_id",
    "post_id",
    "author_id",
    "reviewer",
    "decided_at",
    "round",
    "gavel_action",
    "final_action",
    "note",
    "policy_id",
    "policy_version",
    "clause_id",
    "gavel_verdict",
    "judgement",
)


def decisions_csv(engine: Engine, policy: str | None = None) -> str:
    """One row per judged clause (the post's text is left out: exports travel further than the db)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for d in current_decisions(engine, policy):
        for c in d["clauses"]:
            writer.writerow([{**d, **c}[k] for k in CSV_COLUMNS])
    return out.getvalue()


def decisions_jsonl(engine: Engine, policy: str | None = None) -> str:
    lines = []
    for d in current_decisions(engine, policy):
        d.pop("text")
        lines.append(json.dumps(d, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def expected_verdict(gavel_verdict: str, judgement: str) -> str:
    """What a replay should answer for a clause the reviewer judged: an upheld verdict is kept as it
    is (a regression test of today's behaviour); an overturned flag means no violation, an
    overturned no_violation means Gavel missed a violation."""
    if judgement == "uphold":
        return gavel_verdict
    return "violates" if gavel_verdict == "no_violation" else "no_violation"


def case_files(engine: Engine, policy: str | None = None) -> tuple[dict[str, dict[str, Any]], int]:
    """Decided items as replay case files, one per policy (`gavel replay` format), and how many
    decided items were left out because their text was purged."""
    files: dict[str, dict[str, Any]] = {}
    skipped = 0
    for d in current_decisions(engine, policy):
        if not d["text"]:
            skipped += 1
            continue
        per_policy: dict[str, dict[str, str]] = defaultdict(dict)
        for c in d["clauses"]:
            per_policy[c["policy_id"]][c["clause_id"]] = expected_verdict(c["gavel_verdict"], c["judgement"])
        for policy_id, expect in per_policy.items():
            if policy is not None and policy_id != policy:
                continue
            cf = files.setdefault(
                policy_id,
                {
                    "policy": policy_id,
                    "description": "Reviewed posts exported by `gavel cases export`: upheld verdicts are kept, "
                    "overturned ones corrected.",
                    "cases": [],
                },
            )
            note = f"reviewed by {d['reviewer']} on {d['decided_at'][:10]}, final action {d['final_action']}"
            cf["cases"].append(
                {
                    "id": f"review-{d['item_id']}",
                    "text": d["text"],
                    "source": f"review item {d['item_id']} (post {d['post_id']})",
                    "note": note + (f": {d['note']}" if d["note"] else ""),
                    "functionality": ["reviewed"],
                    "expect": {k: v for k, v in expect.items() if v != "no_violation"},
                    "others": "no_violation",
                }
            )
    return files, skipped


def author_view(engine: Engine, author: str, limit: int = 50) -> dict[str, Any]:
    """An author's queued posts (newest first) with their current decisions, and strikes: posts a
    reviewer decided to remove."""
    q = (
        sa.select(items.c.id, items.c.post_id, items.c.created_ms, items.c.action, items.c.state)
        .add_columns(decisions.c.final_action, decisions.c.reviewer, decisions.c.decided_ms)
        .select_from(items.outerjoin(decisions, decisions.c.id == items.c.current_decision))
        .where(items.c.author_id == author)
        .order_by(items.c.id.desc())
        .limit(limit)
    )
    strikes_q = (
        sa.select(sa.func.count())
        .select_from(items.join(decisions, decisions.c.id == items.c.current_decision))
        .where(items.c.author_id == author, decisions.c.final_action == "remove")
    )
    total_q = sa.select(sa.func.count()).select_from(items).where(items.c.author_id == author)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
        strikes = int(conn.execute(strikes_q).scalar_one())
        total = int(conn.execute(total_q).scalar_one())
    return {
        "author_id": author,
        "queued": total,
        "strikes": strikes,
        "recent": [
            {
                "item_id": int(r.id),
                "post_id": r.post_id,
                "created_ms": int(r.created_ms),
                "gavel_action": r.action,
                "state": r.state,
                "final_action": r.final_action,
                "reviewer": r.reviewer,
                "decided_ms": r.decided_ms,
            }
            for r in rows
        ],
    }


def queue_age(engine: Engine, now_ms: int) -> list[dict[str, Any]]:
    """Open items per age bucket, for the charts view."""
    bounds: list[tuple[int, int | None, str]] = [
        (0, 3_600, "< 1 h"),
        (3_600, 6 * 3_600, "1-6 h"),
        (6 * 3_600, 86_400, "6-24 h"),
    ]
    bounds += [(86_400, 7 * 86_400, "1-7 d"), (7 * 86_400, None, "> 7 d")]
    out = []
    with engine.connect() as conn:
        for low, high, label in bounds:
            where = [items.c.state != "decided", items.c.created_ms <= now_ms - low * 1000]
            if high is not None:
                where.append(items.c.created_ms > now_ms - high * 1000)
            n = conn.execute(sa.select(sa.func.count()).select_from(items).where(*where)).scalar_one()
            out.append({"bucket": label, "count": int(n)})
    return out
