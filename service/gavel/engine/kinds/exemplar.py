"""`exemplar`: cosine similarity of the post to `examples` at or above `threshold`, and `margin`
above any counter-example. The examples are embedded once, at compile time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from gavel.engine.kinds.base import (
    CompileContext,
    CompiledKind,
    ModelName,
    ModelUse,
    Score,
    SignalBase,
    SignalKind,
)
from gavel.engine.post import ModelOutputs, Post, SignalValue
from gavel.engine.results import EvidenceDetails, Role
from gavel.models.base import ModelHub


class ExemplarSignal(SignalBase):
    kind: Literal["exemplar"] = Field(description="exemplar")
    model: ModelName = Field(default="minilm", description="the embedding model")
    examples: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, description="posts it should match")
    counter_examples: list[str] = Field(default_factory=list, description="posts it should not match")
    threshold: Score = Field(default=0.6, description="the similarity at which it fires")
    margin: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.05, description="how much closer to an example than to any counter-example"
    )
    only_when: str | None = Field(
        default=None,
        description="a lexicon/regex/url signal of the policy: the post is embedded and compared only when "
        "that signal has a hit (a cascade: the embedding model runs on fewer posts); otherwise the signal "
        "scores 0. Name a signal every clause using this one requires anyway, and no verdict changes",
    )


@dataclass
class CompiledExemplars:
    signal: ExemplarSignal
    examples: npt.NDArray[np.float32] | None  # None: the model was not loaded at compile time
    counter_examples: npt.NDArray[np.float32] | None
    unavailable: str | None = None


class CompiledExemplarKind(CompiledKind):
    def __init__(self, exemplars: dict[str, CompiledExemplars], roles: Mapping[str, Role], policy_id: str) -> None:
        self.exemplars = exemplars
        self.roles = roles
        self.policy_id = policy_id

    def models(self) -> set[ModelUse]:
        return {(e.signal.model, "embed") for e in self.exemplars.values()}

    def ungated_models(self) -> set[ModelUse]:
        return {(e.signal.model, "embed") for e in self.exemplars.values() if e.signal.only_when is None}

    def gates(self) -> dict[str, tuple[ModelUse, str]]:
        return {
            sid: ((e.signal.model, "embed"), e.signal.only_when)
            for sid, e in self.exemplars.items()
            if e.signal.only_when is not None
        }

    async def values(self, post: Post, outputs: ModelOutputs, hub: ModelHub | None) -> dict[str, SignalValue]:
        out: dict[str, SignalValue] = {}
        for sid, ex in self.exemplars.items():
            # a model that is not loaded stays loud (needs_review) whether or not the gate is open
            if ex.examples is not None and (self.policy_id, sid) in outputs.closed:
                out[sid] = SignalValue(0.0, note=f"{sid}: not consulted ({ex.signal.only_when} has no hit)")
            else:
                out[sid] = self._value(post, sid, ex, outputs.embeddings.get(ex.signal.model))
        return out

    def _value(
        self, post: Post, sid: str, ex: CompiledExemplars, vector: npt.NDArray[np.float32] | str | None
    ) -> SignalValue:
        if ex.examples is None:
            return SignalValue(0.0, unavailable=ex.unavailable)
        if vector is None or isinstance(vector, str):
            return SignalValue(0.0, unavailable=vector or f"model '{ex.signal.model}' gave no embedding")
        sims = ex.examples @ vector
        best = int(np.argmax(sims))
        sim = float(sims[best])
        counter = float(np.max(ex.counter_examples @ vector)) if ex.counter_examples is not None else None
        if sim < ex.signal.threshold or sim < (counter if counter is not None else -1.0) + ex.signal.margin:
            return SignalValue(0.0, note=f"{sid}: similarity {sim:.2f}")
        text = post.item.text
        stripped = len(text) - len(text.lstrip())
        end = max(len(text.rstrip()), stripped)
        details = EvidenceDetails.of(
            model=ex.signal.model,
            similarity=round(sim, 4),
            threshold=ex.signal.threshold,
            example=ex.signal.examples[best],
            counter_similarity=round(counter, 4) if counter is not None else None,
            description=ex.signal.description or None,
        )
        why = explain(sid, details, None)
        return SignalValue(sim, [post.evidence(stripped, end, sid, "exemplar", sim, self.roles[sid], details, why)])


def compile_exemplars(signals: Mapping[str, ExemplarSignal], ctx: CompileContext) -> CompiledKind:
    hub = ctx.hub
    exemplars: dict[str, CompiledExemplars] = {}
    for sid, sig in signals.items():
        if hub is None or not hub.available(sig.model):
            reason = hub.unavailable_reason(sig.model) if hub is not None else "no model hub"
            exemplars[sid] = CompiledExemplars(sig, None, None, reason or f"model '{sig.model}' is not loaded")
            continue
        pos = hub.embed_now(sig.model, sig.examples)
        neg = hub.embed_now(sig.model, sig.counter_examples) if sig.counter_examples else None
        exemplars[sid] = CompiledExemplars(sig, pos, neg)
    return CompiledExemplarKind(exemplars, ctx.roles, ctx.policy.id)


def explain(signal: str, details: EvidenceDetails, category: str | None) -> str:
    sentence = (
        f"similar ({details.similarity or 0:.2f}, threshold {details.threshold or 0:.2f}) "
        f"to the example '{details.example}'"
    )
    if details.counter_similarity is not None:
        sentence += f"; nearest counter-example {details.counter_similarity:.2f}"
    return sentence


def uses_spans(sig: ExemplarSignal) -> list[tuple[tuple[str | int, ...], str]]:
    return [(("only_when",), sig.only_when)] if sig.only_when is not None else []


KIND = SignalKind("exemplar", ExemplarSignal, compile_exemplars, explain, uses_spans=uses_spans)
