"""One post on its way through the engine, and what a signal says about it.

Shared by the evaluator and every signal kind, so it knows nothing of either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gavel.engine.matchers import Hit, TokenIndex
from gavel.engine.normalize import NormalizedText, Utf16Index
from gavel.engine.results import Evidence, EvidenceDetails, Role
from gavel.models.base import LabelScores


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
    # a compiled kind's span hits on this post (by the kind's id): a cascade's gate and the
    # policy's board read them both, and they are found once
    span_hits: dict[int, dict[str, list[Hit]]] = field(default_factory=dict)

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
        kind: str,
        score: float,
        role: Role,
        details: EvidenceDetails,
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
            role=role,
            score=round(score, 4),
            explanation=explanation,
            category=category,
            details=details,
        )


@dataclass
class SignalValue:
    """A signal's score for one post, its evidence, and why it could not be computed, if so."""

    score: float
    evidence: list[Evidence] = field(default_factory=list)
    unavailable: str | None = None
    note: str | None = None


@dataclass
class ModelOutputs:
    """What the models said about one post, per model name; an error string if a model failed."""

    scores: dict[str, LabelScores | str] = field(default_factory=dict)
    embeddings: dict[str, npt.NDArray[np.float32] | str] = field(default_factory=dict)
    # (policy id, signal id) of cascaded signals whose gate has no hit on this post: not consulted
    closed: set[tuple[str, str]] = field(default_factory=set)


def dedupe(evidence: Iterable[Evidence]) -> list[Evidence]:
    """One item per (span, signal), the strongest; in text order."""
    seen: dict[tuple[int, int, str], Evidence] = {}
    for e in evidence:
        key = (e.start, e.end, e.signal)
        if key not in seen or e.score > seen[key].score:
            seen[key] = e
    return sorted(seen.values(), key=lambda e: (e.start, e.end, e.signal))
