"""alt-profanity-check: a linear SVM over a bag of words, trained on ~200k labelled comments;
its weights ship inside the PyPI package, so it works offline out of the box."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

from gavel.settings import Settings


class ProfanityBackend:
    name = "profanity"
    labels: tuple[str, ...] = ("profanity",)

    def __init__(self) -> None:
        from profanity_check import profanity_check as pc  # loads the joblib weights once

        self._vectorizer: Any = pc.vectorizer
        self._model: Any = pc.model
        self.version = f"alt-profanity-check {metadata.version('alt-profanity-check')}"

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        probs = self._model.predict_proba(self._vectorizer.transform(list(texts)))[:, 1]
        return [{"profanity": float(p)} for p in probs]


def load(settings: Settings) -> ProfanityBackend:
    return ProfanityBackend()
