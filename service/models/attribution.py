"""Word-level evidence by occlusion: remove one word at a time, score every variant in one
batched pass, and report the words whose removal lowers the label's score the most."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from service.models.base import TokenAttribution

_WORD = re.compile(r"\w[\w'’\-*@$]*|[^\w\s]{2,}")
MAX_WORDS = 64  # beyond this, occlusion costs more than it explains; the top-scoring window is used


def occlusion(
    text: str, label: str, score_batch: Callable[[Sequence[str]], list[dict[str, float]]]
) -> list[TokenAttribution]:
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)][:MAX_WORDS]
    if not words:
        return []
    variants = [text] + [text[:s] + " " * (e - s) + text[e:] for s, e in words]
    scores = score_batch(variants)
    base = _logit(scores[0].get(label, 0.0))
    # Log-odds, not probabilities: a saturated score (0.9999 with two insults) still shows which
    # words carry it. Contributions are shares of the total drop, so they read as "how much".
    drops = [max(base - _logit(scored.get(label, 0.0)), 0.0) for scored in scores[1:]]
    total = sum(drops)
    if total <= 0:
        return []
    out = [TokenAttribution(s, e, round(d / total, 4)) for (s, e), d in zip(words, drops, strict=True) if d > 0]
    out.sort(key=lambda a: -a.contribution)
    return out


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))
