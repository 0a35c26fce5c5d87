"""The evaluator orchestrates: normalize, match signals, combine them per clause, apply the
policy's exceptions, derive a decision. Matchers only match; clauses only declare verdicts.

Clause score: a `signal` node scores its strongest hit (0 if none); `all_of` the weakest child
(0 unless every child fires); `any_of` the strongest; `none_of` 1 if no child fires; every node
multiplies by its `weight`. The clause's thresholds turn the score into a verdict.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gavel.engine.compiler import CompiledExemplars, CompiledPolicy
from gavel.engine.matchers import Hit, TokenIndex, proximity_hits
from gavel.engine.normalize import NormalizedText, Utf16Index, normalize
from gavel.engine.registry import PolicyRegistry, PolicySet
from gavel.engine.results import (
    Action,
    ClauseVerdict,
    Decision,
    EvaluationResult,
    Evidence,
    ExceptionHit,
    ModelInfo,
    PolicyResult,
    SignalKind,
    Verdict,
)
from gavel.engine.schema import Clause, Condition, ContextSignal, PolicyException
from gavel.errors import (
    InputTooLargeError,
    ModelUnavailableError,
    OverloadedError,
    UnknownPolicyError,
)
from gavel.models.base import LabelScores, ModelHub

_MAX_MODEL_WORDS = 5  # word-level evidence items per model signal


@dataclass
class EvalItem:
    text: str
    id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Post:
    item: EvalItem
    norm: NormalizedText
    utf16: Utf16Index
    _tokens: TokenIndex | None = None

    @property
    def tokens(self) -> TokenIndex:
        if self._tokens is None:
            self._tokens = TokenIndex(self.item.text)
        return self._tokens

    def evidence(
        self,
        start: int,
        end: int,
        signal: str,
        kind: SignalKind,
        score: float,
        explanation: str,
        category: str | None = None,
    ) -> Evidence:
        # built by Gavel itself, so pydantic's validation would only re-check our own types
        return Evidence.model_construct(
            start=start,
            end=end,
            start_utf16=self.utf16(start),
            end_utf16=self.utf16(end),
            text=self.item.text[start:end],
            signal=signal,
            kind=kind,
            score=round(score, 4),
            explanation=explanation,
            category=category,
        )


@dataclass
class SignalValue:
    score: float
    evidence: list[Evidence] = field(default_factory=list)
    unavailable: str | None = None
    note: str | None = None


@dataclass
class ModelOutputs:
    """What the models said about one post, per model name; an error string if a model failed."""

    scores: dict[str, LabelScores | str] = field(default_factory=dict)
    embeddings: dict[str, npt.NDArray[np.float32] | str] = field(default_factory=dict)


@dataclass
class _Outcome:
    score: float
    evidence: list[Evidence]
    notes: list[str]
    unavailable: list[str]


_ZERO_VALUE = SignalValue(0.0)


class Evaluator:
    def __init__(self, registry: PolicyRegistry, hub: ModelHub | None, max_text_chars: int = 10_000) -> None:
        self.registry = registry
        self.hub = hub
        self.max_text_chars = max_text_chars
        self._quiet_cache: dict[tuple[str, str], bool] = {}

    # --- public API ----------------------------------------------------------------------

    def select(self, policy_ids: Sequence[str] | None, pset: PolicySet | None = None) -> list[CompiledPolicy]:
        pset = pset or self.registry.current
        if not policy_ids:
            return list(pset.policies.values())
        unknown = [p for p in policy_ids if p not in pset.policies]
        if unknown:
            raise UnknownPolicyError(unknown)
        return [pset.policies[p] for p in dict.fromkeys(policy_ids)]

    async def evaluate(
        self,
        text: str,
        policy_ids: Sequence[str] | None = None,
        context: Mapping[str, Any] | None = None,
        item_id: str | None = None,
    ) -> EvaluationResult:
        results = await self.evaluate_many([EvalItem(text, item_id, dict(context or {}))], policy_ids)
        return results[0]

    async def evaluate_many(
        self, items: Sequence[EvalItem], policy_ids: Sequence[str] | None = None
    ) -> list[EvaluationResult]:
        # One snapshot of the policy set for the whole call: a reload mid-batch can't mix versions.
        started = time.perf_counter()
        pset = self.registry.current
        policies = self.select(policy_ids, pset)
        for item in items:
            if len(item.text) > self.max_text_chars:
                raise InputTooLargeError("text", len(item.text), self.max_text_chars)
        posts = [Post(item, normalize(item.text), Utf16Index(item.text)) for item in items]
        outputs = await self._run_models(policies, posts)
        results = []
        per_item_ms = (time.perf_counter() - started) * 1000 / max(len(items), 1)
        for post, out in zip(posts, outputs, strict=True):
            t0 = time.perf_counter()
            result = await self._evaluate_post(post, policies, out)
            result.timing_ms = round(per_item_ms + (time.perf_counter() - t0) * 1000, 3)
            results.append(result)
        return results

    # --- models ----------------------------------------------------------------------------

    async def _run_models(self, policies: list[CompiledPolicy], posts: list[Post]) -> list[ModelOutputs]:
        outputs = [ModelOutputs() for _ in posts]
        classify = {s.model for p in policies for s in p.model_signals.values()}
        embed = {e.signal.model for p in policies for e in p.exemplars.values()}
        texts = [p.item.text for p in posts]
        for model in sorted(classify):
            reason = self._unavailable(model)
            if reason is None:
                assert self.hub is not None
                try:
                    scored = await self.hub.classify(model, texts)
                except OverloadedError:
                    raise
                except ModelUnavailableError as exc:
                    reason = exc.reason
                except Exception as exc:  # a broken model must not take the request down
                    reason = f"{type(exc).__name__}: {exc}"
                else:
                    for out, s in zip(outputs, scored, strict=True):
                        out.scores[model] = s
                    continue
            for out in outputs:
                out.scores[model] = reason
        for model in sorted(embed):
            reason = self._unavailable(model)
            if reason is None:
                assert self.hub is not None
                try:
                    vectors = await self.hub.embed(model, texts)
                except OverloadedError:
                    raise
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                else:
                    for i, out in enumerate(outputs):
                        out.embeddings[model] = vectors[i]
                    continue
            for out in outputs:
                out.embeddings[model] = reason
        return outputs

    def _unavailable(self, model: str) -> str | None:
        if self.hub is None:
            return f"model '{model}' is not loaded (no model hub)"
        if not self.hub.available(model):
            return self.hub.unavailable_reason(model) or f"model '{model}' is not loaded"
        return None

    def model_versions(self, models: set[str]) -> list[ModelInfo]:
        if self.hub is None or not models:
            return []
        return [ModelInfo(name=n, version=v) for n, v in self.hub.info() if n in models]

    # --- one post ------------------------------------------------------------------------

    async def _evaluate_post(self, post: Post, policies: list[CompiledPolicy], out: ModelOutputs) -> EvaluationResult:
        results: list[PolicyResult] = []
        escalations: list[str] = []
        used_models: set[str] = set()
        for cp in policies:
            board = await self._signals(cp, post, out)
            clauses = [self._clause(cp, clause, board) for clause in cp.clauses]
            action, reasons = self._policy_action(cp, clauses, board.values(frozenset()))
            results.append(
                PolicyResult(
                    policy_id=cp.id,
                    version=cp.version,
                    digest=cp.digest,
                    clauses=clauses,
                    action=action,
                )
            )
            used_models |= cp.models_needed()
            escalations += [f"{cp.id}: escalated to {action.value}: {r}" for r in reasons]
        decision = self._decision(results, escalations)
        return EvaluationResult(
            id=post.item.id,
            decision=decision,
            policies=results,
            models=self.model_versions(used_models),
        )

    async def _signals(self, cp: CompiledPolicy, post: Post, out: ModelOutputs) -> SignalBoard:
        hits: dict[str, list[Hit]] = cp.lexicon.match(post.norm)
        if cp.regex_prefilter is not None:
            for sid, only in cp.regex_prefilter.candidates(post.norm).items():
                found = cp.regexes[sid].match(post.norm, only)
                if found:
                    hits[sid] = found
        board = SignalBoard(self, cp, post, hits)
        for sid, msig in cp.model_signals.items():
            scored = out.scores.get(msig.model)
            if not isinstance(scored, LabelScores):
                board.fixed[sid] = SignalValue(0.0, unavailable=scored or f"model '{msig.model}' gave no score")
                continue
            if msig.label not in scored.scores:
                board.fixed[sid] = SignalValue(0.0, unavailable=f"model '{msig.model}' has no label '{msig.label}'")
                continue
            prob = scored.scores[msig.label]
            if prob < msig.threshold:
                board.fixed[sid] = SignalValue(0.0, note=f"{msig.model}.{msig.label}={prob:.2f}")
                continue
            board.fixed[sid] = SignalValue(
                prob,
                await self._model_evidence(
                    post,
                    sid,
                    msig.model,
                    msig.label,
                    prob,
                    msig.threshold,
                    scored,
                    msig.explain_words,
                ),
            )
        for sid, ex in cp.exemplars.items():
            board.fixed[sid] = self._exemplar_value(post, sid, ex, out.embeddings.get(ex.signal.model))
        for sid, csig in cp.context_signals.items():
            board.fixed[sid] = _context_value(csig, post.item.context)
        board.find_suppressions()
        return board

    def _span_value(self, post: Post, sid: str, kind: str, hits: list[Hit], description: str) -> SignalValue:
        if not hits:
            return SignalValue(0.0)
        value = SignalValue(max(h.score for h in hits))
        for h in hits:
            if kind == "lexicon":
                why = f"'{h.what}' is in the lexicon '{sid}'"
            else:
                why = f"matches the pattern /{h.what}/ of '{sid}'"
            if h.category:
                why += f" ({h.category})"
            if description:
                why += f": {description}"
            value.evidence.append(post.evidence(h.start, h.end, sid, kind, h.score, why, h.category))  # type: ignore[arg-type]
        return value

    async def _model_evidence(
        self,
        post: Post,
        sid: str,
        model: str,
        label: str,
        prob: float,
        threshold: float,
        scored: LabelScores,
        explain_words: bool,
    ) -> list[Evidence]:
        text = post.item.text
        start, end = scored.windows.get(label, (0, len(text)))
        why = f"{model} scored {label}={prob:.2f} (threshold {threshold:.2f})"
        if explain_words and self.hub is not None and end > start:
            try:
                words = await self.hub.attribute(model, text[start:end], label)
            except OverloadedError:
                raise
            except Exception:
                words = []
            items = [w for w in words if w.contribution > 0][:_MAX_MODEL_WORDS]
            if items:
                return [
                    post.evidence(
                        start + w.start,
                        start + w.end,
                        sid,
                        "model",
                        w.contribution,
                        f"{why}; without this word {label} drops by {w.contribution:.2f}"
                        if w.how == "occlusion"
                        else f"{why}; the model's evidence head marks these words ({w.contribution:.2f})",
                    )
                    for w in items
                ]
        return [post.evidence(start, end, sid, "model", prob, why)]

    def _exemplar_value(
        self,
        post: Post,
        sid: str,
        ex: CompiledExemplars,
        vector: npt.NDArray[np.float32] | str | None,
    ) -> SignalValue:
        if ex.examples is None:
            return SignalValue(0.0, unavailable=ex.unavailable)
        if vector is None or isinstance(vector, str):
            return SignalValue(0.0, unavailable=vector or f"model '{ex.signal.model}' gave no embedding")
        sims = ex.examples @ vector
        best = int(np.argmax(sims))
        sim = float(sims[best])
        counter = float(np.max(ex.counter_examples @ vector)) if ex.counter_examples is not None else -1.0
        if sim < ex.signal.threshold or sim < counter + ex.signal.margin:
            return SignalValue(0.0, note=f"{sid}: similarity {sim:.2f}")
        text = post.item.text
        stripped = len(text) - len(text.lstrip())
        end = len(text.rstrip())
        why = (
            f"similar ({sim:.2f}, threshold {ex.signal.threshold:.2f}) to the example "
            f"'{ex.signal.examples[best]}'" + (f"; nearest counter-example {counter:.2f}" if counter > -1 else "")
        )
        return SignalValue(sim, [post.evidence(stripped, max(end, stripped), sid, "exemplar", sim, why)])

    # --- clauses -----------------------------------------------------------------------------

    def _condition(self, cond: Condition, signals: dict[str, SignalValue]) -> _Outcome:
        if cond.signal is not None:
            value = signals.get(cond.signal, _ZERO_VALUE)
            if value.score <= 0 and not value.unavailable:
                return _Outcome(0.0, [], [], [])  # the common case: this signal did not fire
            unavailable = [value.unavailable] if value.unavailable else []
            notes = [value.note] if value.note and value.score > 0 else []
            outcome = _Outcome(value.score, list(value.evidence), notes, unavailable)
        elif cond.all_of is not None:
            parts = [self._condition(c, signals) for c in cond.all_of]
            unavailable = [u for p in parts for u in p.unavailable]
            if all(p.score > 0 for p in parts):
                outcome = _Outcome(
                    min(p.score for p in parts),
                    [e for p in parts for e in p.evidence],
                    [n for p in parts for n in p.notes],
                    unavailable,
                )
            else:
                outcome = _Outcome(0.0, [], [], unavailable)
        elif cond.any_of is not None:
            parts = [self._condition(c, signals) for c in cond.any_of]
            fired = [p for p in parts if p.score > 0]
            unavailable = [u for p in parts for u in p.unavailable]
            outcome = _Outcome(
                max((p.score for p in fired), default=0.0),
                [e for p in fired for e in p.evidence],
                [n for p in fired for n in p.notes],
                unavailable,
            )
        else:
            assert cond.none_of is not None
            parts = [self._condition(c, signals) for c in cond.none_of]
            any_fired = any(p.score > 0 for p in parts)
            outcome = _Outcome(0.0 if any_fired else 1.0, [], [], [u for p in parts for u in p.unavailable])
        if outcome.score > 0:
            outcome.score *= cond.weight
            if cond.explain:
                outcome.notes.insert(0, cond.explain)
        return outcome

    def _quiet(self, cp: CompiledPolicy, clause: Clause) -> bool:
        """True when the clause cannot fire with none of its signals present (no top-level none_of)."""
        key = (cp.digest, clause.id)
        quiet = self._quiet_cache.get(key)
        if quiet is None:
            quiet = self._condition(clause.when, {}).score <= 0
            self._quiet_cache[key] = quiet
        return quiet

    def _clause(self, cp: CompiledPolicy, clause: Clause, board: SignalBoard) -> ClauseVerdict:
        th = clause.thresholds
        fired = frozenset(x for x in clause.exceptions if x in board.suppressions)
        signals = board.values(fired)
        if not fired and self._quiet(cp, clause) and not any(s in signals for s in cp.clause_signals[clause.id]):
            # fast path for the usual post: nothing this clause looks at fired
            return ClauseVerdict.model_construct(
                clause_id=clause.id,
                verdict=Verdict.NO_VIOLATION,
                score=0.0,
                evidence=[],
                exceptions=[],
                explanation="no signal of this clause fired",
            )
        outcome = self._condition(clause.when, signals)
        score = round(outcome.score, 4)
        verdict = _verdict(score, th.violates, th.needs_review)
        notes = list(dict.fromkeys(outcome.notes))
        exception_hits: list[ExceptionHit] = []
        if fired:
            # Span exceptions (negation...) dropped hits: say what the clause would have been.
            before = _verdict(
                self._condition(clause.when, board.values(frozenset())).score,
                th.violates,
                th.needs_review,
            )
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
                        f"exception '{ex_id}' set aside hits and changed {before.value} to "
                        f"{verdict.value}: {ex.explanation}"
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
            ex_outcome = self._condition(ex.when, signals)
            if ex_outcome.score <= 0:
                continue
            after = _apply_effect(ex, verdict)
            if after is verdict:
                continue
            exception_hits.append(
                ExceptionHit(
                    exception_id=ex.id,
                    effect=ex.effect,
                    explanation=ex.explanation,
                    verdict_before=verdict,
                    verdict_after=after,
                    evidence=_dedupe(ex_outcome.evidence),
                )
            )
            notes.append(f"exception '{ex.id}' changed {verdict.value} to {after.value}: {ex.explanation}")
            verdict = after
        explanation = _explain(verdict, score, th.violates, th.needs_review, notes)
        return ClauseVerdict.model_construct(
            clause_id=clause.id,
            verdict=verdict,
            score=score,
            evidence=_dedupe(outcome.evidence) if score > 0 else [],
            exceptions=exception_hits,
            explanation=explanation,
        )

    def _policy_action(
        self, cp: CompiledPolicy, clauses: list[ClauseVerdict], signals: dict[str, SignalValue]
    ) -> tuple[Action, list[str]]:
        action = Action.ALLOW
        reasons: list[str] = []
        by_id = {c.id: c for c in cp.clauses}
        for cv in clauses:
            amap = by_id[cv.clause_id].actions or cp.policy.decision.actions
            this = (
                amap.violates
                if cv.verdict is Verdict.VIOLATES
                else amap.needs_review
                if cv.verdict is Verdict.NEEDS_REVIEW
                else Action.ALLOW
            )
            if this.severity > action.severity:
                action = this
        for esc in cp.policy.decision.escalate:
            if action is esc.from_action and self._condition(esc.when, signals).score > 0:
                action = esc.to_action
                reasons.append(esc.reason)
        return action, reasons

    @staticmethod
    def _decision(results: list[PolicyResult], escalations: list[str]) -> Decision:
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


def _verdict(score: float, violates: float, review: float) -> Verdict:
    if score > 0 and score >= violates:
        return Verdict.VIOLATES
    if score > 0 and score >= review:
        return Verdict.NEEDS_REVIEW
    return Verdict.NO_VIOLATION


class SignalBoard:
    """Every signal's value for one post and one policy, with and without span exceptions."""

    def __init__(self, evaluator: Evaluator, cp: CompiledPolicy, post: Post, hits: dict[str, list[Hit]]) -> None:
        self._evaluator = evaluator
        self._cp = cp
        self._post = post
        self._hits = hits
        self.fixed: dict[str, SignalValue] = {}  # model, exemplar, context: no spans to suppress
        self.suppressions: dict[str, tuple[list[Hit], list[Hit]]] = {}  # exception -> (markers, dropped)
        self._cache: dict[frozenset[str], dict[str, SignalValue]] = {}

    def find_suppressions(self) -> None:
        tokens = self._post.tokens
        for ex in self._cp.exceptions.values():
            if ex.effect != "suppress" or ex.suppress is None or ex.when.signal is None:
                continue
            markers = self._hits.get(ex.when.signal, [])
            targets = self._hits.get(ex.suppress, [])
            if not markers or not targets:
                continue
            used: list[Hit] = []
            dropped: list[Hit] = []
            for t in targets:
                t_first, t_last = tokens.token_of(t.start), tokens.token_of(t.end - 1)
                for m in markers:
                    m_first, m_last = tokens.token_of(m.start), tokens.token_of(m.end - 1)
                    before = m_last < t_first and t_first - m_last - 1 <= ex.window
                    after = t_last < m_first and m_first - t_last - 1 <= ex.window
                    if (
                        (ex.order == "before" and before)
                        or (ex.order == "after" and after)
                        or (ex.order == "any" and (before or after))
                    ):
                        used.append(m)
                        dropped.append(t)
                        break
            if dropped:
                self.suppressions[ex.id] = (used, dropped)

    def suppression_evidence(self, ex_id: str) -> list[Evidence]:
        markers, dropped = self.suppressions[ex_id]
        post = self._post
        out = [
            post.evidence(
                h.start,
                h.end,
                h.signal,
                "lexicon",
                h.score,
                f"'{h.what}' marks the exception '{ex_id}'",
            )
            for h in markers
        ]
        out += [
            post.evidence(h.start, h.end, h.signal, "lexicon", h.score, f"'{h.what}' set aside by '{ex_id}'")
            for h in dropped
        ]
        return _dedupe(out)

    def values(self, suppressed: frozenset[str]) -> dict[str, SignalValue]:
        cached = self._cache.get(suppressed)
        if cached is not None:
            return cached
        hits = self._hits
        if suppressed:
            drop = {id(h) for ex_id in suppressed for h in self.suppressions[ex_id][1]}
            hits = {sid: [h for h in hs if id(h) not in drop] for sid, hs in hits.items()}
        cp, post, ev = self._cp, self._post, self._evaluator
        # signals absent from the map score 0: most posts fire few signals, so only those are built
        values: dict[str, SignalValue] = dict(self.fixed)
        for sid, found in hits.items():
            if found:
                sig = cp.policy.signals[sid]
                values[sid] = ev._span_value(post, sid, sig.kind, found, sig.description)
        for sid, prox in cp.proximity.items():
            if not hits.get(prox.anchor) or not hits.get(prox.target):
                continue
            blockers = [h for b in prox.blocked_by for h in hits.get(b, [])]
            pairs = proximity_hits(
                sid,
                prox,
                hits.get(prox.anchor, []),
                hits.get(prox.target, []),
                post.tokens,
                blockers,
            )
            value = SignalValue(0.0)
            for a, t, score in pairs:
                value.score = max(value.score, score)
                why = (
                    f"'{post.item.text[a.start : a.end]}' ({prox.anchor}) within {prox.window} words of "
                    f"'{post.item.text[t.start : t.end]}' ({prox.target})"
                )
                if prox.description:
                    why += f": {prox.description}"
                value.evidence.append(post.evidence(a.start, a.end, sid, "proximity", score, why, a.category))
                value.evidence.append(post.evidence(t.start, t.end, sid, "proximity", score, why, t.category))
            values[sid] = value
        self._cache[suppressed] = values
        return values


def _apply_effect(ex: PolicyException, verdict: Verdict) -> Verdict:
    if ex.effect == "clear":
        return Verdict.NO_VIOLATION
    if ex.effect == "downgrade":
        return Verdict.NEEDS_REVIEW if verdict is Verdict.VIOLATES else Verdict.NO_VIOLATION
    return Verdict.NEEDS_REVIEW if verdict is Verdict.VIOLATES else verdict


def _dedupe(evidence: list[Evidence]) -> list[Evidence]:
    seen: dict[tuple[int, int, str], Evidence] = {}
    for e in evidence:
        key = (e.start, e.end, e.signal)
        if key not in seen or e.score > seen[key].score:
            seen[key] = e
    return sorted(seen.values(), key=lambda e: (e.start, e.end, e.signal))


def _explain(verdict: Verdict, score: float, violates: float, review: float, notes: list[str]) -> str:
    if verdict is Verdict.NO_VIOLATION and not notes:
        return "no signal of this clause fired" if score == 0 else f"score {score:.2f} is below {review:.2f}"
    head = {
        Verdict.VIOLATES: f"score {score:.2f} >= {violates:.2f}",
        Verdict.NEEDS_REVIEW: f"score {score:.2f}",
        Verdict.NO_VIOLATION: f"score {score:.2f}",
    }[verdict]
    return "; ".join([head, *notes])


def _lookup(context: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    cur: Any = context
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


def _context_value(sig: ContextSignal, context: Mapping[str, Any]) -> SignalValue:
    found, value = _lookup(context, sig.field)
    ok = False
    try:
        if sig.op == "exists":
            ok = found
        elif not found:
            ok = False
        elif sig.op == "truthy":
            ok = bool(value)
        elif sig.op == "eq":
            ok = value == sig.value
        elif sig.op == "ne":
            ok = value != sig.value
        elif sig.op == "in":
            ok = value in (sig.value or [])
        elif sig.op == "not_in":
            ok = value not in (sig.value or [])
        else:
            ok = {
                "gt": value > sig.value,
                "gte": value >= sig.value,
                "lt": value < sig.value,
                "lte": value <= sig.value,
            }[sig.op]
    except TypeError:
        ok = False  # a context value of the wrong type simply doesn't match
    note = f"context {sig.field} {sig.op} {sig.value!r}" if ok else None
    return SignalValue(sig.score if ok else 0.0, note=note)
