"""The evaluator orchestrates: normalize, run the models the policies need (`model_runs`), read
every signal (`signals`, through the registered kinds), score each clause's `when` tree
(`conditions`), apply the exceptions and derive a decision (`decision`). Matchers only match;
clauses only declare verdicts."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from gavel.engine.compiler import CompiledPolicy
from gavel.engine.decision import decide, is_quiet, judge_clause, policy_action
from gavel.engine.kinds.base import ModelUse
from gavel.engine.model_runs import model_versions, run_models
from gavel.engine.normalize import Utf16Index, normalize
from gavel.engine.post import EvalItem, ModelOutputs, Post
from gavel.engine.registry import PolicyRegistry, PolicySet
from gavel.engine.results import EvaluationResult, ModelInfo, PolicyResult
from gavel.engine.schema import Clause
from gavel.engine.signals import read_signals
from gavel.errors import InputTooLargeError, UnknownPolicyError
from gavel.language import LanguageGate
from gavel.models.base import ModelHub

__all__ = ["EvalItem", "Evaluator"]


class OnePost:
    """`evaluate(text, …)` for one post, on top of a class's `evaluate_many`: the engine's evaluator
    and the stateful wrapper share it."""

    async def evaluate_many(
        self, items: Sequence[EvalItem], policy_ids: Sequence[str] | None = None
    ) -> list[EvaluationResult]:
        raise NotImplementedError

    async def evaluate(
        self,
        text: str,
        policy_ids: Sequence[str] | None = None,
        context: Mapping[str, Any] | None = None,
        item_id: str | None = None,
    ) -> EvaluationResult:
        [result] = await self.evaluate_many([EvalItem(text, item_id, dict(context or {}))], policy_ids)
        return result


def post_model_uses(
    policies: Sequence[CompiledPolicy], post: Post
) -> tuple[set[ModelUse], set[tuple[str, str]]]:
    """What the post needs from the models under every policy (cascades applied)."""
    needed: set[ModelUse] = set()
    closed: set[tuple[str, str]] = set()
    for cp in policies:
        uses, shut = cp.post_model_uses(post)
        needed |= uses
        closed |= shut
    return needed, closed


class Evaluator(OnePost):
    def __init__(
        self,
        registry: PolicyRegistry,
        hub: ModelHub | None,
        max_text_chars: int = 10_000,
        language: LanguageGate | None = None,
    ) -> None:
        self.registry = registry
        self.hub = hub
        self.max_text_chars = max_text_chars
        self.language = language or LanguageGate()
        self._quiet_cache: dict[tuple[str, str], bool] = {}

    def select(self, policy_ids: Sequence[str] | None, pset: PolicySet | None = None) -> list[CompiledPolicy]:
        pset = pset or self.registry.current
        if not policy_ids:
            return list(pset.policies.values())
        unknown = [p for p in policy_ids if p not in pset.policies]
        if unknown:
            raise UnknownPolicyError(unknown)
        return [pset.policies[p] for p in dict.fromkeys(policy_ids)]


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
        langs = [self.language.identify(post.norm.text.text, post.item.context) for post in posts]
        uses = {use for cp in policies for use in cp.model_uses()}
        outputs = await run_models(self.hub, uses, posts, [post_model_uses(policies, post) for post in posts])
        results = []
        per_item_ms = (time.perf_counter() - started) * 1000 / max(len(items), 1)
        for post, out, lang in zip(posts, outputs, langs, strict=True):
            t0 = time.perf_counter()
            result = await self._evaluate_post(post, policies, out)
            self.language.apply(result, policies, lang)
            result.timing_ms = round(per_item_ms + (time.perf_counter() - t0) * 1000, 3)
            results.append(result)
        return results

    def model_versions(self, models: set[str]) -> list[ModelInfo]:
        return model_versions(self.hub, models)

    async def _evaluate_post(self, post: Post, policies: list[CompiledPolicy], out: ModelOutputs) -> EvaluationResult:
        results: list[PolicyResult] = []
        escalations: list[str] = []
        used_models: set[str] = set()
        for cp in policies:
            board = await read_signals(cp, post, out, self.hub)
            clauses = [judge_clause(cp, clause, board, self._quiet(cp, clause)) for clause in cp.clauses]
            action, reasons = policy_action(cp, clauses, board.values(frozenset()))
            results.append(
                PolicyResult(policy_id=cp.id, version=cp.version, digest=cp.digest, clauses=clauses, action=action)
            )
            used_models |= cp.models_needed()
            escalations += [f"{cp.id}: escalated to {action.value}: {r}" for r in reasons]
        return EvaluationResult(
            id=post.item.id,
            decision=decide(results, escalations),
            policies=results,
            models=self.model_versions(used_models),
        )

    def _quiet(self, cp: CompiledPolicy, clause: Clause) -> bool:
        key = (cp.digest, clause.id)
        quiet = self._quiet_cache.get(key)
        if quiet is None:
            quiet = self._quiet_cache[key] = is_quiet(clause)
        return quiet
