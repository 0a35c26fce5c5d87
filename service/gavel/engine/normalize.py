"""Text normalization for matching, with an offset map back to the original post.

Regexes run on `NormalizedText.text`, lexicons on `NormalizedText.squeezed`; both views carry,
for every normalized char, the original code-point range it came from, so a match on a view
maps back to a slice of the original with `original[start:end]`.

Pipeline (each step keeps offsets; chars only get substituted 1:1, expanded or dropped):
1. drop invisible format chars (category Cf, soft hyphen, bidi controls, Hangul fillers);
2. per char: NFKC, casefold, NFKD, drop combining marks (Mn/Me), recompose (NFC), fold
   Latin-script lookalikes (small capitals, dotless i, script g); a dropped combining mark
   widens the range of the char before it, so a span never ends inside a grapheme;
3. collapse whitespace runs to one space, strip the ends;
4. homoglyphs: Cyrillic/Greek lookalikes to Latin inside tokens that hold an a-z letter;
   then text-speak "8" for "ate" after a word's consonant ("h8" -> "hate", "l8r" -> "later");
5. leetspeak inside tokens that hold an a-z letter;
6. join 3+ single letters split by one repeated separator ("k.i.l.l" -> "kill");
7. `squeezed`: every run of one repeated letter collapsed to one letter, and a word-final "z"
   after a letter read as a plural "s".
Whitespace is collapsed before joining (not after) so that normalizing twice changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import accumulate

__all__ = ["NormalizedText", "NormalizedView", "Utf16Index", "normalize", "normalize_term"]


@dataclass(frozen=True, slots=True)
class NormalizedView:
    """A normalized string and, per char, the original code-point range that produced it."""

    text: str
    starts: list[int]
    ends: list[int]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Normalized span [start, end) (end > start) -> original span (starts[start], ends[end-1])."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) is empty or outside 0..{len(self.text)}")
        return self.starts[start], self.ends[end - 1]


@dataclass(frozen=True, slots=True)
class NormalizedText:
    original: str
    text: NormalizedView
    squeezed: NormalizedView


# Step 1: invisible chars beyond category Cf (Cf itself is tested by category).
_INVISIBLE = frozenset("\u00ad\u034f\u115f\u1160\u3164\uffa0")

# Step 2: Latin-script letters that only look like another Latin letter; folded everywhere.
_LATIN_VARIANTS = str.maketrans(
    {
        "ı": "i",
        "ȷ": "j",
        "ɑ": "a",
        "ɡ": "g",
        "ɩ": "i",
        "ɪ": "i",
        "ʀ": "r",
        "ʏ": "y",
        "ʙ": "b",
        "ʜ": "h",
        "ʟ": "l",
        "ɢ": "g",
        "ɴ": "n",
        "ᴀ": "a",
        "ᴄ": "c",
        "ᴅ": "d",
        "ᴇ": "e",
        "ᴊ": "j",
        "ᴋ": "k",
        "ᴍ": "m",
        "ᴏ": "o",
        "ᴘ": "p",
        "ᴛ": "t",
        "ᴜ": "u",
        "ᴠ": "v",
        "ᴡ": "w",
        "ᴢ": "z",
        "ꜱ": "s",
    }
)

# Step 4: lowercase Cyrillic and Greek lookalikes (after casefold) to Latin.
HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ѕ": "s",
    "і": "i",
    "ј": "j",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "п": "n",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ь": "b",
    "һ": "h",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ӏ": "l",
    "ү": "y",
    # Greek
    "α": "a",
    "β": "b",
    "γ": "y",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "ϲ": "c",
    "ϳ": "j",
}
_HOMOGLYPH_TABLE = str.maketrans(HOMOGLYPHS)
_HOMOGLYPH_ANY = re.compile("[" + re.escape("".join(HOMOGLYPHS)) + "]")

# Step 5: leetspeak. `!`, `|`, `+` only count between a token's first and last solid char
# ("kill!", "lgbtq+" keep theirs); a token's leading `@` is a mention and stays.
LEET: dict[str, str] = {
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
_LEET_TABLE = str.maketrans(LEET)
_LEET_ANY = re.compile("[" + re.escape("".join(LEET)) + "]")
_LEET_INNER_ONLY = frozenset("!|+")
_LEET_SOLID = frozenset("$€@")
_LATIN = re.compile("[a-z]")

# Step 4b: "8" read as "ate" ("h8", "h8ers", "sk8", "st8"): a short word of letters with the 8
# after a consonant. Runs before leetspeak, which would read the 8 as "b" ("hb").
_EIGHT_AS_ATE = re.compile(r"(?<![\w@])[a-z]{0,2}[b-df-hj-np-tv-z](8)(?=[a-z]{0,3}(?![\w@]))")

# Step 6: "<sep><letter><sep><letter>" right after a run's first letter; `[^\W\d_]` is a
# superset of str.isalpha, so every run is found and the exact check runs only there.
_JOIN_CANDIDATE = re.compile(r"([ .\-_*·])[^\W\d_]\1[^\W\d_]")

_WHITESPACE_EDIT = re.compile(r"\s{2,}|[^\S ]")  # a run to collapse, or one non-space blank
_REPEAT = re.compile(r"(\w)\1+")  # filtered to letters below
# Step 7b: a word-final "z" after a letter is read as the plural "s" ("gayz", "retardz"); the
# collision guard keeps common words that fold onto a term this way ("quiz") from matching.
_PLURAL_Z = re.compile(r"(?<=[a-y])z\b")

_FOLD_CACHE: dict[str, str] = {chr(i): chr(i).lower() for i in range(128)}
_FOLD_CACHE_MAX = 50_000  # code points are finite, but private-use/unassigned ones are many


def _fold_uncached(c: str) -> str:
    if c in _INVISIBLE or unicodedata.category(c) == "Cf":
        return ""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", c).casefold())
    bare = "".join(x for x in folded if unicodedata.category(x) not in ("Mn", "Me"))
    return unicodedata.normalize("NFC", bare).translate(_LATIN_VARIANTS)


def _fold(original: str) -> tuple[str, list[int], list[int]]:
    """Steps 1-2 for non-ASCII text: per-char fold, each output char keeps its source range."""
    cache = _FOLD_CACHE
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    last = 0  # where the outputs of the last kept source char begin
    for i, c in enumerate(original):
        f = cache.get(c)
        if f is None:
            f = _fold_uncached(c)
            if len(cache) < _FOLD_CACHE_MAX:
                cache[c] = f
        if not f:
            # a dropped combining mark belongs to its base: "résumé" must not end before its "´"
            if ends and unicodedata.category(c)[0] == "M":
                ends[last:] = [i + 1] * (len(ends) - last)
            continue
        last = len(chars)
        if len(f) == 1:
            chars.append(f)
            starts.append(i)
            ends.append(i + 1)
        else:
            chars.extend(f)
            starts.extend([i] * len(f))
            ends.extend([i + 1] * len(f))
    return "".join(chars), starts, ends


def _apply(
    s: str, starts: list[int], ends: list[int], edits: list[tuple[int, int, str]]
) -> tuple[str, list[int], list[int]]:
    """Apply sorted, disjoint edits (a, b, rep): s[a:b] becomes `rep` (any length; each of its
    chars gets the range of all of s[a:b])."""
    if not edits:
        return s, starts, ends
    pieces: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    pos = 0
    for a, b, rep in edits:
        pieces.append(s[pos:a])
        out_starts += starts[pos:a]
        out_ends += ends[pos:a]
        if rep:
            pieces.append(rep)
            out_starts += [starts[a]] * len(rep)
            out_ends += [ends[b - 1]] * len(rep)
        pos = b
    pieces.append(s[pos:])
    out_starts += starts[pos:]
    out_ends += ends[pos:]
    return "".join(pieces), out_starts, out_ends


def _collapse_whitespace(s: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]]:
    lo = len(s) - len(s.lstrip())
    hi = len(s.rstrip())
    if hi <= lo:
        return "", [], []
    edits: list[tuple[int, int, str]] = []
    if lo:
        edits.append((0, lo, ""))
    edits.extend((m.start(), m.end(), " ") for m in _WHITESPACE_EDIT.finditer(s, lo, hi))
    if hi < len(s):
        edits.append((hi, len(s), ""))
    return _apply(s, starts, ends, edits)


def _unleet(token: str) -> str:
    lead = 1 if token[0] == "@" else 0
    if not any(c in token for c in _LEET_INNER_ONLY):
        return token[:lead] + token[lead:].translate(_LEET_TABLE)
    solid = [k for k, c in enumerate(token) if c.isalnum() or (c in _LEET_SOLID and k >= lead)]
    first, last = (solid[0], solid[-1]) if solid else (0, 0)
    out = list(token)
    for k in range(lead, len(token)):
        c = token[k]
        if c in LEET and (c not in _LEET_INNER_ONLY or first < k < last):
            out[k] = LEET[c]
    return "".join(out)


def _substitute_tokens(s: str, finder: re.Pattern[str], homoglyphs: bool) -> str:
    """Rewrite 1:1 (offsets unchanged) each space-delimited token that holds a char `finder`
    finds and an a-z letter."""
    m = finder.search(s)
    if m is None:
        return s
    pieces: list[str] = []
    pos = 0
    while m is not None:
        p = m.start()
        a = s.rfind(" ", 0, p) + 1
        b = s.find(" ", p)
        if b < 0:
            b = len(s)
        token = s[a:b]
        if _LATIN.search(token):
            new = token.translate(_HOMOGLYPH_TABLE) if homoglyphs else _unleet(token)
            if new != token:
                pieces.append(s[pos:a])
                pieces.append(new)
                pos = b
        m = finder.search(s, b)
    if not pieces:
        return s
    pieces.append(s[pos:])
    return "".join(pieces)


def _is_single_letter(s: str, p: int) -> bool:
    return s[p].isalpha() and (p == 0 or not s[p - 1].isalnum()) and (p + 1 == len(s) or not s[p + 1].isalnum())


def _join_edits(s: str) -> list[tuple[int, int, str]]:
    """Separators to drop: runs of 3+ single letters split by one repeated separator."""
    edits: list[tuple[int, int, str]] = []
    n = len(s)
    m = _JOIN_CANDIDATE.search(s)
    while m is not None:
        p = m.start() - 1
        sep = m.group(1)
        q = p
        if p >= 0 and _is_single_letter(s, p):
            while q + 2 < n and s[q + 1] == sep and _is_single_letter(s, q + 2):
                q += 2
        if q - p >= 4:
            edits.extend((k, k + 1, "") for k in range(p + 1, q, 2))
            m = _JOIN_CANDIDATE.search(s, q + 2)
        else:
            m = _JOIN_CANDIDATE.search(s, p + 2)
    return edits


def _squeeze(view: NormalizedView) -> NormalizedView:
    if "z" in view.text:  # before squeezing, so that "...sz" squeezes to one "s"
        plural = [(m.start(), m.end(), "s") for m in _PLURAL_Z.finditer(view.text)]
        if plural:
            view = NormalizedView(*_apply(view.text, view.starts, view.ends, plural))
    edits = [(m.start(), m.end(), m.group(1)) for m in _REPEAT.finditer(view.text) if m.group(1).isalpha()]
    if not edits:
        return view
    return NormalizedView(*_apply(view.text, view.starts, view.ends, edits))


def normalize(original: str) -> NormalizedText:
    """Normalize a post into the regex view (`text`) and the lexicon view (`squeezed`)."""
    if original.isascii():
        s = original.lower()
        starts = list(range(len(s)))
        ends = list(range(1, len(s) + 1))
    else:
        s, starts, ends = _fold(original)
    s, starts, ends = _collapse_whitespace(s, starts, ends)
    if not s.isascii() and _HOMOGLYPH_ANY.search(s):
        s = _substitute_tokens(s, _HOMOGLYPH_ANY, homoglyphs=True)
    if "8" in s:
        s, starts, ends = _apply(s, starts, ends, [(m.start(1), m.end(1), "ate") for m in _EIGHT_AS_ATE.finditer(s)])
    s = _substitute_tokens(s, _LEET_ANY, homoglyphs=False)
    s, starts, ends = _apply(s, starts, ends, _join_edits(s))
    text = NormalizedView(s, starts, ends)
    return NormalizedText(original, text, _squeeze(text))


def normalize_term(term: str) -> str:
    """A lexicon term as the `squeezed` view would spell it. Multi-word terms keep single spaces."""
    return normalize(term).squeezed.text


class Utf16Index:
    """Built once per post; code-point offset -> UTF-16 code-unit offset in O(1) (prefix array,
    only built if the text has astral chars; identity otherwise)."""

    __slots__ = ("_length", "_prefix")

    def __init__(self, original: str) -> None:
        self._length = len(original)
        self._prefix: list[int] | None = None
        if not original.isascii() and len(original.encode("utf-16-le", "surrogatepass")) != 2 * len(original):
            units = (2 if c > "\uffff" else 1 for c in original)
            self._prefix = list(accumulate(units, initial=0))

    def __call__(self, cp_offset: int) -> int:
        if not 0 <= cp_offset <= self._length:
            raise IndexError(f"offset {cp_offset} outside 0..{self._length}")
        return cp_offset if self._prefix is None else self._prefix[cp_offset]
