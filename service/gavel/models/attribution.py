"""Word-level evidence by occlusion: remove one word at a time, score every variant in one
batched pass, and report the words whose removal lowers the label's score, most first."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from gavel.models.base import TokenAttribution

_WORD = re.compile(r"[\w$@*][\w'’\-*@$]*|[^\w\s]{2,}")
# Beyond this many words occlusion costs more than it explains; the hub hands it one window of a
# long post (GAVEL_MODEL_WINDOW_CHARS, 400 chars is ~80 words), so the cap rarely bites.
MAX_WORDS = 128
_EPS = 1e-7  # float noise of a forward pass is not evidence


def words(text: str) -> list[tuple[int, int]]:
    """Spans of the words occlusion removes one at a time (at most MAX_WORDS, in text order)."""
    return [(m.start(), m.end()) for m in _WORD.finditer(text)][:MAX_WORDS]


def variants(text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
    """The text itself, then one copy per word with that word blanked (spaces keep the offsets)."""
    return [text] + [text[:s] + " " * (e - s) + text[e:] for s, e in spans]


def attributions(
    spans: Sequence[tuple[int, int]], label: str, scores: Sequence[dict[str, float]]
) -> list[TokenAttribution]:
    """From the scores of `variants(text, spans)`: the words whose removal lowers `label`."""
    base = scores[0].get(label, 0.0)
    out: list[TokenAttribution] = []
    for (s, e), scored in zip(spans, scores[1:], strict=True):
        without = scored.get(label, 0.0)
        drop = base - without
        if drop > _EPS:
            out.append(TokenAttribution(s, e, drop, _logit(base) - _logit(without)))
    # probability drop and log-odds drop rank the same for one text; the log-odds one still
    # separates words when the score is saturated (0.9999 with two insults)
    out.sort(key=lambda a: (-a.log_odds_drop, a.start))
    return out


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))
