"""From signal values to verdicts and actions: a clause's score against its thresholds, the
policy's exceptions and what they changed, a missing model's needs_review, the policy's action
with its escalations, and the decision over every evaluated policy."""

from __future__ import annotations

from collections.abc import Mapping

from gavel.engine.compiler import CompiledPolicy
from gavel.engine.conditions import score_condition
from gavel.engine.evidence import as_context
from gavel.engine.post import SignalValue, dedupe
from gavel.engine.results import Action, ClauseVerdict, Decision, ExceptionHit, PolicyResult, Verdict
from gavel.engine.schema import Clause, PolicyException
from gavel.engine.signals import SignalBoard


def verdict_of(score: float, violates: float, review: float) -> Verdict:
    if score > 0 and score >= violates:
        return Verdict.VIOLATES
    if score > 0 and score >= review:
        return Verdict.NEEDS_REVIEW
    return Verdict.NO_VIOLATION


def is_quiet(clause: Clause) -> bool:
    """True when the clause cannot fire with none of its signals present (no top-level none_of)."""
    return score_condition(clause.when, {}).score <= 0


def _live(value: SignalValue | None) -> bool:
    """A signal value that can move a clause: it fired, or its model was unavailable."""
    return value is not None and (value.score > 0 or bool(value.unavailable))


def judge_clause(cp: CompiledPolicy, clause: Clause, board: SignalBoard, quiet: bool) -> ClauseVerdict:
    th = clause.thresholds
    fired = frozenset(x for x in clause.exceptions if x in board.suppressions)
    signals = board.values(fired)
    if not fired and quiet and not any(_live(signals.get(s)) for s in cp.clause_signals[clause.id]):
        # fast path for the usual post: nothing this clause looks at fired (a model signal below
        # its threshold is on the board with score 0 and a note: that is not firing)
        return ClauseVerdict.model_construct(
            clause_id=clause.id,
            verdict=Verdict.NO_VIOLATION,
            score=0.0,
            evidence=[],
            exceptions=[],
            explanation="no signal of this clause fired",
        )
    outcome = score_condition(clause.when, signals)
    score = round(outcome.score, 4)
    verdict = verdict_of(score, th.violates, th.needs_review)
    notes = list(dict.fromkeys(outcome.notes))
    exception_hits: list[ExceptionHit] = []
    if fired:
        # Span exceptions (negation...) dropped hits: say what the clause would have been.
        before = verdict_of(score_condition(clause.when, board.values(frozenset())).score, th.violates, th.needs_review)
        if before is not verdict:
            for ex_id in sorted(fired):
                ex = cp.exceptions[ex_id]
                exception_hits.append(
                    ExceptionHit(
                        exception_id=ex_id,
                        effect="suppress",
                        explanation=ex.explanation,
                        verdict_before=before,
                        verdict_after=verdict,
                        evidence=board.suppression_evidence(ex_id),
                    )
                )
                notes.append(
                    f"exception '{ex_id}' set aside hits and changed {before.value} to {verdict.value}: "
                    f"{ex.explanation}"
                )
    if outcome.unavailable and verdict is not Verdict.VIOLATES:
        # No silent degradation: a clause that could not consult its model asks for a human.
        verdict = Verdict.NEEDS_REVIEW
        notes.append("a model this clause needs is unavailable: " + "; ".join(dict.fromkeys(outcome.unavailable)))
    for ex_id in clause.exceptions:
        if verdict is Verdict.NO_VIOLATION:
            break
        ex = cp.exceptions[ex_id]
        if ex.effect == "suppress":
            continue
        ex_outcome = score_condition(ex.when, signals)
        if ex_outcome.score <= 0:
            continue
        after = apply_effect(ex, verdict)
        if after is verdict:
            continue
        exception_hits.append(
            ExceptionHit(
                exception_id=ex.id,
                effect=ex.effect,
                explanation=ex.explanation,
                verdict_before=verdict,
                verdict_after=after,
                evidence=as_context(ex_outcome.evidence, ex.id),
            )
        )
        notes.append(f"exception '{ex.id}' changed {verdict.value} to {after.value}: {ex.explanation}")
        verdict = after
    return ClauseVerdict.model_construct(
        clause_id=clause.id,
        verdict=verdict,
        score=score,
        evidence=dedupe(outcome.evidence) if score > 0 else [],
        exceptions=exception_hits,
        explanation=explain_verdict(verdict, score, th.violates, th.needs_review, notes),
    )


def apply_effect(ex: PolicyException, verdict: Verdict) -> Verdict:
    if ex.effect == "clear":
        return Verdict.NO_VIOLATION
    if ex.effect == "downgrade":
        return Verdict.NEEDS_REVIEW if verdict is Verdict.VIOLATES else Verdict.NO_VIOLATION
    return Verdict.NEEDS_REVIEW if verdict is Verdict.VIOLATES else verdict


def explain_verdict(verdict: Verdict, score: float, violates: float, review: float, notes: list[str]) -> str:
    if verdict is Verdict.NO_VIOLATION and not notes:
        return "no signal of this clause fired" if score == 0 else f"score {score:.2f} is below {review:.2f}"
    head = f"score {score:.2f} >= {violates:.2f}" if verdict is Verdict.VIOLATES else f"score {score:.2f}"
    return "; ".join([head, *notes])


def policy_action(
    cp: CompiledPolicy, clauses: list[ClauseVerdict], signals: Mapping[str, SignalValue]
) -> tuple[Action, list[str]]:
    """The strongest action of the clauses' verdicts, then the policy's escalations (with reasons)."""
    action = Action.ALLOW
    reasons: list[str] = []
    by_id = {c.id: c for c in cp.clauses}
    for cv in clauses:
        amap = by_id[cv.clause_id].actions or cp.policy.decision.actions
        if cv.verdict is Verdict.VIOLATES:
            this = amap.violates
        elif cv.verdict is Verdict.NEEDS_REVIEW:
            this = amap.needs_review
        else:
            this = Action.ALLOW
        if this.severity > action.severity:
            action = this
    for esc in cp.policy.decision.escalate:
        if action is esc.from_action and score_condition(esc.when, signals).score > 0:
            action = esc.to_action
            reasons.append(esc.reason)
    return action, reasons


def decide(results: list[PolicyResult], escalations: list[str]) -> Decision:
    action = Action.ALLOW
    violated: list[str] = []
    reasons: list[str] = []
    for pr in results:
        if pr.action.severity > action.severity:
            action = pr.action
        if any(c.verdict is Verdict.VIOLATES for c in pr.clauses):
            violated.append(pr.policy_id)
        reasons += [
            f"{pr.policy_id}.{c.clause_id}: {c.verdict.value}"
            for c in pr.clauses
            if c.verdict is not Verdict.NO_VIOLATION
        ]
    return Decision(action=action, policies_violated=violated, reasons=reasons + escalations)
