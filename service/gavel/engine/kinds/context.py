"""`context`: a field of the request's context (`author.strikes`, `lang`) compared with `op`.
It has no span in the post, so no evidence: it says why in the clause's explanation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from gavel.engine.kinds.base import CompileContext, CompiledKind, Score, SignalBase, SignalKind
from gavel.engine.post import ModelOutputs, Post, SignalValue
from gavel.engine.results import EvidenceDetails
from gavel.models.base import ModelHub

ContextOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "truthy"]


class ContextSignal(SignalBase):
    kind: Literal["context"] = Field(description="context")
    field: str = Field(description="dotted path into the request's context, e.g. author.strikes")
    op: ContextOp = Field(default="truthy", description="how the field is compared with `value`")
    value: Any = Field(default=None, description="what the field is compared with")
    score: Score = Field(default=1.0, description="the score when the comparison holds")


class CompiledContext(CompiledKind):
    def __init__(self, signals: dict[str, ContextSignal]) -> None:
        self.signals = signals

    async def values(self, post: Post, outputs: ModelOutputs, hub: ModelHub | None) -> dict[str, SignalValue]:
        return {sid: context_value(sig, post.item.context) for sid, sig in self.signals.items()}


def _lookup(context: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    cur: Any = context
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


def _holds(sig: ContextSignal, found: bool, value: Any) -> bool:
    if sig.op == "exists":
        return found
    if not found:
        return False
    if sig.op == "truthy":
        return bool(value)
    if sig.op == "eq":
        return bool(value == sig.value)
    if sig.op == "ne":
        return bool(value != sig.value)
    if sig.op == "in":
        return value in (sig.value or [])
    if sig.op == "not_in":
        return value not in (sig.value or [])
    compare = {"gt": value > sig.value, "gte": value >= sig.value, "lt": value < sig.value, "lte": value <= sig.value}
    return bool(compare[sig.op])


def context_value(sig: ContextSignal, context: Mapping[str, Any]) -> SignalValue:
    found, value = _lookup(context, sig.field)
    try:
        ok = _holds(sig, found, value)
    except TypeError:
        ok = False  # a context value of the wrong type simply doesn't match
    note = f"context {sig.field} {sig.op} {sig.value!r}" if ok else None
    return SignalValue(sig.score if ok else 0.0, note=note)


def compile_context(signals: Mapping[str, ContextSignal], ctx: CompileContext) -> CompiledKind:
    return CompiledContext(dict(signals))


def explain(signal: str, details: EvidenceDetails, category: str | None) -> str:
    return f"context signal '{signal}'"  # context signals give no evidence spans


KIND = SignalKind("context", ContextSignal, compile_context, explain)
