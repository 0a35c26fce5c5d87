"""`proximity`: a hit of `anchor` within `window` words of a hit of `target` (both span kinds).
Scored after span exceptions, so a negated side no longer pairs."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field

from gavel.engine.kinds.base import CompileContext, CompiledKind, Score, SignalBase, SignalKind, with_description
from gavel.engine.matchers import Hit, proximity_hits
from gavel.engine.post import Post, SignalValue, dedupe
from gavel.engine.results import EvidenceDetails, Role


class ProximitySignal(SignalBase):
    kind: Literal["proximity"] = Field(description="proximity")
    anchor: str = Field(description="a span signal (lexicon, regex, url)")
    target: str = Field(description="a span signal (lexicon, regex, url)")
    window: Annotated[int, Field(ge=0, le=100)] = Field(default=6, description="at most this many words between")
    order: Literal["any", "anchor_first", "target_first"] = Field(default="any", description="which side comes first")
    score: Score | None = Field(default=None, description="defaults to the lower of the two hits' scores")
    same_sentence: bool = Field(default=True, description="both sides in one sentence")
    blocked_by: list[str] = Field(
        default_factory=list,
        description="span signals whose hit between the two sides, or over either side, breaks the pair "
        "('Eliminating Israel does not mean ... Jewish people'; 'the Jewish state')",
    )


class CompiledProximity(CompiledKind):
    def __init__(self, signals: dict[str, ProximitySignal], roles: Mapping[str, Role]) -> None:
        self.signals = signals
        self.roles = roles

    def combine(self, post: Post, hits: Mapping[str, list[Hit]]) -> dict[str, SignalValue]:
        values: dict[str, SignalValue] = {}
        text = post.item.text
        for sid, prox in self.signals.items():
            anchors, targets = hits.get(prox.anchor), hits.get(prox.target)
            if not anchors or not targets:
                continue
            blockers = [h for b in prox.blocked_by for h in hits.get(b, [])]
            value = SignalValue(0.0)
            for a, t, score in proximity_hits(sid, prox, anchors, targets, post.tokens, blockers):
                value.score = max(value.score, score)
                sides = (prox.anchor, prox.target, text[a.start : a.end], text[t.start : t.end])
                details, why = _facts(sid, *sides, prox.window, prox.description)
                for side, hit in ((prox.anchor, a), (prox.target, t)):
                    role = self.roles.get(side, "harm") if prox.role is None else prox.role
                    value.evidence.append(
                        post.evidence(hit.start, hit.end, sid, "proximity", score, role, details, why, hit.category)
                    )
            # a side paired with several others is one item, not one per pair
            value.evidence = dedupe(value.evidence)
            values[sid] = value
        return values


@lru_cache(maxsize=65_536)
def _facts(
    sid: str, anchor: str, target: str, anchor_text: str, target_text: str, window: int, description: str
) -> tuple[EvidenceDetails, str]:
    """A pair's details and sentence, built once per distinct pair of words (shared, never mutated)."""
    details = EvidenceDetails.of(
        anchor=anchor,
        target=target,
        anchor_text=anchor_text,
        target_text=target_text,
        window=window,
        description=description or None,
    )
    return details, explain(sid, details, None)


def compile_proximity(signals: Mapping[str, ProximitySignal], ctx: CompileContext) -> CompiledKind:
    return CompiledProximity(dict(signals), ctx.roles)


def explain(signal: str, details: EvidenceDetails, category: str | None) -> str:
    sentence = (
        f"'{details.anchor_text}' ({details.anchor}) within {details.window} words of "
        f"'{details.target_text}' ({details.target})"
    )
    return with_description(sentence, details)


def uses_spans(sig: ProximitySignal) -> list[tuple[tuple[str | int, ...], str]]:
    sides: list[tuple[tuple[str | int, ...], str]] = [(("anchor",), sig.anchor), (("target",), sig.target)]
    return sides + [(("blocked_by", j), name) for j, name in enumerate(sig.blocked_by)]


KIND = SignalKind("proximity", ProximitySignal, compile_proximity, explain, uses_spans=uses_spans)
