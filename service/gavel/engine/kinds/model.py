"""`model`: a classifier label's probability at or above `threshold`; when it fires, occlusion
names the words that drove it (word-level evidence)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

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
from gavel.engine.results import Evidence, EvidenceDetails, Role
from gavel.errors import OverloadedError
from gavel.models.base import LabelScores, ModelHub

MAX_WORDS = 5  # word-level evidence items per model signal


class ModelSignal(SignalBase):
    kind: Literal["model"] = Field(description="model")
    model: ModelName = Field(description="a model of GAVEL_MODELS, e.g. profanity, detoxify")
    label: str = Field(description="one of the model's labels")
    threshold: Score = Field(default=0.5, description="the label's probability at which the signal fires")
    explain_words: bool = Field(default=True, description="add word-level evidence (occlusion) when it fires")
    scores_as: Literal["probability", "fired"] = Field(
        default="probability",
        description="the signal's score when it fires: the label's probability, or 1.0 (fired: a supporting "
        "condition with a low threshold, which must not cap the clause's score at that probability)",
    )


class CompiledModels(CompiledKind):
    def __init__(self, signals: dict[str, ModelSignal], roles: Mapping[str, Role]) -> None:
        self.signals = signals
        self.roles = roles

    def models(self) -> set[ModelUse]:
        return {(s.model, "classify") for s in self.signals.values()}

    async def values(self, post: Post, outputs: ModelOutputs, hub: ModelHub | None) -> dict[str, SignalValue]:
        values: dict[str, SignalValue] = {}
        for sid, sig in self.signals.items():
            scored = outputs.scores.get(sig.model)
            if not isinstance(scored, LabelScores):
                values[sid] = SignalValue(0.0, unavailable=scored or f"model '{sig.model}' gave no score")
            elif sig.label not in scored.scores:
                values[sid] = SignalValue(0.0, unavailable=f"model '{sig.model}' has no label '{sig.label}'")
            elif (prob := scored.scores[sig.label]) < sig.threshold:
                values[sid] = SignalValue(0.0, note=f"{sig.model}.{sig.label}={prob:.2f}")
            else:
                score = 1.0 if sig.scores_as == "fired" else prob
                values[sid] = SignalValue(score, await self._evidence(post, sid, sig, prob, scored, hub))
        return values

    async def _evidence(
        self, post: Post, sid: str, sig: ModelSignal, prob: float, scored: LabelScores, hub: ModelHub | None
    ) -> list[Evidence]:
        text = post.item.text
        start, end = scored.windows.get(sig.label, (0, len(text)))
        role = self.roles[sid]
        facts: dict[str, Any] = {
            "model": sig.model,
            "label": sig.label,
            "probability": round(prob, 4),
            "threshold": sig.threshold,
            "description": sig.description or None,
        }
        if sig.explain_words and hub is not None and end > start:
            try:
                words = await hub.attribute(sig.model, text[start:end], sig.label)
            except OverloadedError:
                raise
            except Exception:
                words = []
            # a word whose drop rounds to 0 explains nothing
            items = [w for w in words if round(w.contribution, 4) > 0][:MAX_WORDS]
            if items:
                out = []
                for w in items:
                    details = EvidenceDetails.of(**facts, contribution=round(w.contribution, 4), attributed_by=w.how)
                    why = explain(sid, details, None)
                    out.append(
                        post.evidence(start + w.start, start + w.end, sid, "model", w.contribution, role, details, why)
                    )
                return out
        if round(prob, 4) <= 0:
            return []
        details = EvidenceDetails.of(**facts)
        return [post.evidence(start, end, sid, "model", prob, role, details, explain(sid, details, None))]


def compile_models(signals: Mapping[str, ModelSignal], ctx: CompileContext) -> CompiledKind:
    return CompiledModels(dict(signals), ctx.roles)


def explain(signal: str, details: EvidenceDetails, category: str | None) -> str:
    probability, threshold = details.probability or 0.0, details.threshold or 0.0
    sentence = f"{details.model} scored {details.label}={probability:.2f} (threshold {threshold:.2f})"
    if details.contribution is not None and details.attributed_by == "evidence_head":
        sentence += f"; the model's evidence head marks this word ({details.contribution:.2f})"
    elif details.contribution is not None:
        sentence += f"; without this word {details.label} drops by {details.contribution:.2f}"
    return sentence


KIND = SignalKind("model", ModelSignal, compile_models, explain)
