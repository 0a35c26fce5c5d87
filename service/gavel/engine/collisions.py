"""Lexicon folding that cannot collide with ordinary words.

Lexicons match on the squeezed view, where repeated letters are collapsed ("kiiill" -> "kil"),
after leetspeak, homoglyphs and spaced letters were folded. That folding also maps ordinary
words onto terms: "cons" squeezes to the key of the slur "coons", "Niger" to that of "nigger",
"shite" to "shiite". At compile time every single-word key of a policy's automaton is checked
against the common English words of `wordfreq`: a common word that folds onto a key without
being one of the term's own spellings is a collision. At run time such a key matches only when
the word as written (the unsqueezed, normalized view: "coooons", "c00ns" is "coons") is not
that common word, so "pros and cons" no longer names a slur while "cooons" still does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from wordfreq import get_frequency_dict

__all__ = ["COMMON_MIN_ZIPF", "Collision", "common_words_by_key", "find_collisions", "squeeze_word"]

# Zipf 3.0 = once per million words: "cons" (3.8), "niger" (3.5), "jos" (3.2) are common;
# "kil" (2.5), "fagot" (2.0) are not.
COMMON_MIN_ZIPF = 3.0
_REPEAT = re.compile(r"([^\W\d_])\1+")
_WORD = re.compile(r"[a-z][a-z']*")


def squeeze_word(word: str) -> str:
    """A lowercase word as the squeezed view spells it (runs of one letter collapsed)."""
    return _REPEAT.sub(r"\1", word)


@lru_cache(maxsize=4)
def common_words_by_key(min_zipf: float = COMMON_MIN_ZIPF) -> dict[str, frozenset[str]]:
    """Squeezed form -> the common English words that squeeze to it (computed once a process)."""
    threshold = 10 ** (min_zipf - 9)  # zipf = log10(frequency per billion words)
    index: dict[str, set[str]] = {}
    for word, freq in get_frequency_dict("en").items():
        if freq >= threshold and _WORD.fullmatch(word):
            index.setdefault(squeeze_word(word), set()).add(word)
    return {k: frozenset(v) for k, v in index.items()}


@dataclass(frozen=True, slots=True)
class Collision:
    """Common words that fold onto the key of a term without being one of its spellings."""

    signal: str
    term: str
    key: str
    words: frozenset[str]

    def message(self) -> str:
        listed = ", ".join(repr(w) for w in sorted(self.words))
        return (
            f"folding maps the common word{'s' if len(self.words) > 1 else ''} {listed} onto '{self.key}' "
            f"(term '{self.term}'); the term matches there only when not spelt as that word"
        )


def find_collisions(key: str, spellings: frozenset[str]) -> frozenset[str]:
    """The common words whose folded form is `key` but that are not among `spellings` (the
    term's own forms, normalized but not squeezed). Multi-word keys are not checked: a phrase
    colliding word for word with an ordinary phrase has not been seen in a lexicon."""
    if " " in key:
        return frozenset()
    words = common_words_by_key().get(key)
    if not words:
        return frozenset()
    return words - spellings
