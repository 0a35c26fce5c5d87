"""The one interface every model backend implements, and the hub the evaluator talks to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class TokenAttribution:
    """A word of the input and how much it drove a label's score (occlusion delta)."""

    start: int  # code-point offset into the text the backend was given
    end: int
    contribution: float  # the label's probability minus its probability with this word blanked
    log_odds_drop: float = 0.0  # the same drop in log-odds: still readable when the score is saturated
    # "occlusion", or "evidence_head": the model's evidence head marked the word (contribution = its probability)
    how: str = "occlusion"


@dataclass(frozen=True)
class LabelScores:
    """Per-label probabilities for one text, plus the window that scored highest per label."""

    scores: dict[str, float]
    # label -> (start, end) of the window of the text that produced the max score; (0, len(text))
    # when the text fits in one window
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)


@runtime_checkable
class ClassifierBackend(Protocol):
    """A text classifier: batch of texts in, per-label scores out."""

    name: str
    version: str
    labels: tuple[str, ...]

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]: ...


@runtime_checkable
class EmbeddingBackend(Protocol):
    """A sentence encoder: batch of texts in, L2-normalised vectors out."""

    name: str
    version: str

    def embed_batch(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class ModelHub(Protocol):
    """What the evaluator needs from the models: async, batched behind the scenes.

    `start`/`close` bracket its use inside an event loop (the runtime calls them);
    `set_observer` receives (model, batch size, queue wait in seconds) per forward pass."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def set_observer(self, observer: Callable[[str, int, float], None]) -> None: ...

    def available(self, model: str) -> bool: ...

    def unavailable_reason(self, model: str) -> str | None: ...

    def info(self) -> list[tuple[str, str]]:
        """(name, version) of every loaded model."""
        ...

    async def classify(self, model: str, texts: Sequence[str]) -> list[LabelScores]: ...

    async def embed(self, model: str, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...

    async def attribute(self, model: str, text: str, label: str) -> list[TokenAttribution]: ...

    def embed_now(self, model: str, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Synchronous embedding for compile time (exemplars)."""
        ...
