"""Normalization with a reversible offset map.

Matching runs on a folded text (NFKC, case folding, accents, zero-width, homoglyphs, leetspeak,
spaced-out letters, repeated letters); every normalized character remembers the span of the
original post it came from, so evidence always points at what the author wrote.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Invisible characters used to break up words: zero-width, joiners, soft hyphen, bidi controls.
_INVISIBLE = frozenset(
    [
        0x00AD,
        0x034F,
        0x061C,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x180E,
        0x3164,
        0xFEFF,
        0xFFA0,
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
    ]
)

# Lookalikes from other scripts, folded only inside words that also hold Latin letters.
_HOMOGLYPHS = {
    "а": "a",
    "е": "e",
    "о": "o",
    "р": "p",
    "с": "c",
    "у": "y",
    "х": "x",
    "і": "i",
    "ј": "j",
    "ѕ": "s",
    "ԁ": "d",
    "һ": "h",
    "к": "k",
    "м": "m",
    "т": "t",
    "в": "b",
    "н": "h",
    "ӏ": "l",
    "ɡ": "g",
    "ɑ": "a",
    "ο": "o",
    "α": "a",
    "ν": "v",
    "ι": "i",
    "κ": "k",
    "τ": "t",
    "ρ": "p",
    "υ": "u",
    "ε": "e",
    "χ": "x",
    "ω": "w",
    "ԛ": "q",
    "ԝ": "w",
    "ı": "i",
    "ł": "l",
    "ø": "o",
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "đ": "d",
    "ħ": "h",
    "þ": "th",
}

# Leetspeak, folded only inside a word that has at least one letter ("k1ll", not "2020").
_LEET = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "l",
    "+": "t",
    "€": "e",
}

_SEPARATORS = frozenset(" .-_*·")


@dataclass(frozen=True, slots=True)
class NormalizedView:
    text: str
    starts: list[int]
    ends: list[int]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Normalized span [start, end) -> original span; a span that cuts an expansion widens to all of it."""
        return self.starts[start], self.ends[end - 1]


@dataclass(frozen=True, slots=True)
class NormalizedText:
    original: str
    text: NormalizedView
    squeezed: NormalizedView


def _fold_char(c: str) -> str:
    """NFKC, case fold, strip accents and combining marks, homoglyphs (script-level)."""
    out = unicodedata.normalize("NFKC", c).casefold()
    if not out.isascii():
        decomposed = unicodedata.normalize("NFKD", out)
        out = "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Me"))
    return out


def _is_invisible(c: str) -> bool:
    o = ord(c)
    return o in _INVISIBLE or (o > 0x7F and unicodedata.category(c) == "Cf")


def _step_fold(original: str) -> tuple[list[str], list[int], list[int]]:
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    if original.isascii():
        low = original.lower()
        return list(low), list(range(len(low))), list(range(1, len(low) + 1))
    for i, c in enumerate(original):
        if _is_invisible(c):
            continue
        folded = c.lower() if c.isascii() else _fold_char(c)
        for ch in folded:
            chars.append(ch)
            starts.append(i)
            ends.append(i + 1)
    return chars, starts, ends


def _token_ranges(chars: list[str]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    i, n = 0, len(chars)
    while i < n:
        if chars[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not chars[j].isspace():
            j += 1
        ranges.append((i, j))
        i = j
    return ranges


def _step_words(chars: list[str]) -> None:
    """Homoglyphs and leetspeak, word by word, in place."""
    for a, b in _token_ranges(chars):
        letters = sum(1 for ch in chars[a:b] if ch.isalpha())
        if not any("a" <= ch <= "z" for ch in chars[a:b]):
            continue
        leet = 2 * letters >= b - a  # mostly letters: "k1ll", "j3ws"; not "2020s"
        for k in range(a, b):
            ch = chars[k]
            if ch in _HOMOGLYPHS and len(_HOMOGLYPHS[ch]) == 1:
                chars[k] = _HOMOGLYPHS[ch]
            elif leet and ch in _LEET:
                # a leading @ or # is a mention or hashtag; trailing ! or $ is punctuation
                if k == a and ch in "@#":
                    continue
                if ch in "!$|" and (k == b - 1 or not chars[k + 1].isalpha()):
                    continue
                chars[k] = _LEET[ch]


def _step_join_spaced(chars: list[str], starts: list[int], ends: list[int]) -> tuple[list[str], list[int], list[int]]:
    """'k i l l', 'k.i.l.l' -> 'kill': three or more single letters split by one repeated separator."""
    n = len(chars)
    drop = [False] * n
    i = 0
    while i < n:
        if not chars[i].isalpha() or (i > 0 and chars[i - 1].isalnum()):
            i += 1
            continue
        if i + 1 >= n or chars[i + 1] not in _SEPARATORS:
            i += 1
            continue
        sep = chars[i + 1]
        letters = [i]
        j = i + 1
        while j + 1 < n and chars[j] == sep and chars[j + 1].isalpha() and (j + 2 >= n or not chars[j + 2].isalnum()):
            letters.append(j + 1)
            j += 2
        if len(letters) >= 3:
            for k in range(letters[0] + 1, letters[-1]):
                if k not in letters:
                    drop[k] = True
            i = letters[-1] + 1
        else:
            i += 1
    if not any(drop):
        return chars, starts, ends
    keep = [k for k in range(n) if not drop[k]]
    return [chars[k] for k in keep], [starts[k] for k in keep], [ends[k] for k in keep]


def _step_spaces(chars: list[str], starts: list[int], ends: list[int]) -> NormalizedView:
    """Collapse whitespace runs to one space (mapped to the run's first character) and trim."""
    out: list[str] = []
    s: list[int] = []
    e: list[int] = []
    space: tuple[int, int] | None = None
    for ch, a, b in zip(chars, starts, ends, strict=True):
        if ch.isspace():
            if space is None and out:
                space = (a, b)
            continue
        if space is not None:
            out.append(" ")
            s.append(space[0])
            e.append(space[1])
            space = None
        out.append(ch)
        s.append(a)
        e.append(b)
    return NormalizedView("".join(out), s, e)


def _squeeze(view: NormalizedView) -> NormalizedView:
    """Each run of one repeated letter becomes one letter spanning the whole run."""
    text = view.text
    if not text:
        return view
    out: list[str] = []
    s: list[int] = []
    e: list[int] = []
    for k, ch in enumerate(text):
        if out and ch == out[-1] and ch.isalpha():
            e[-1] = view.ends[k]
            continue
        out.append(ch)
        s.append(view.starts[k])
        e.append(view.ends[k])
    return NormalizedView("".join(out), s, e)


def normalize(original: str) -> NormalizedText:
    chars, starts, ends = _step_fold(original)
    _step_words(chars)
    chars, starts, ends = _step_join_spaced(chars, starts, ends)
    view = _step_spaces(chars, starts, ends)
    return NormalizedText(original, view, _squeeze(view))


def normalize_term(term: str) -> str:
    """A lexicon term spelled the way the squeezed view spells text."""
    return normalize(term).squeezed.text


class Utf16Index:
    """Code-point offset -> UTF-16 code-unit offset, O(1) after one pass (identity without astral chars)."""

    def __init__(self, original: str) -> None:
        self._prefix: list[int] | None = None
        if any(ord(c) > 0xFFFF for c in original):
            prefix = [0] * (len(original) + 1)
            total = 0
            for i, c in enumerate(original):
                total += 2 if ord(c) > 0xFFFF else 1
                prefix[i + 1] = total
            self._prefix = prefix

    def __call__(self, cp_offset: int) -> int:
        return cp_offset if self._prefix is None else self._prefix[cp_offset]
