"""Matchers find spans; they know nothing of clauses or verdicts.

Lexicons run as one Aho-Corasick automaton per policy over the squeezed view; regexes run on
RE2 (linear time, no catastrophic backtracking). Every hit carries original-text offsets.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ahocorasick
import re2

from gavel.engine.collisions import Collision, find_collisions
from gavel.engine.inflect import inflections
from gavel.engine.normalize import NormalizedText, normalize

if TYPE_CHECKING:  # the kinds' schemas import this module at run time
    from gavel.engine.kinds.lexicon import LexiconSignal
    from gavel.engine.kinds.proximity import ProximitySignal
    from gavel.engine.kinds.regex import RegexSignal

_WORD = re.compile(r"\S+")
# a sentence ends at . ! ? ; or a line break, followed by space or the end ("U.S. citizens" splits: harmless)
_SENTENCE_END = re.compile(r"[.!?;…]+(?=\s|$)|\n")


@dataclass(frozen=True, slots=True)
class Hit:
    """One span a signal matched, in original code-point offsets."""

    signal: str
    start: int
    end: int
    score: float
    what: str  # what matched: the lexicon term, the pattern's id (patterns[2]), the domain
    category: str | None = None


class LexiconTooLarge(ValueError):
    """The lexicons hold more terms than allowed."""


class PatternsRefused(ValueError):
    """RE2 refused some patterns: (index in `patterns`, RE2's reason) for each."""

    def __init__(self, refused: list[tuple[int, str]]) -> None:
        self.refused = refused
        super().__init__("; ".join(f"patterns[{i}]: {reason}" for i, reason in refused))


@dataclass(frozen=True, slots=True)
class _TermEntry:
    signal: str
    term: str
    category: str | None
    score: float
    # common words that fold onto this key without being a spelling of the term ("cons" for
    # "coons"): written exactly so, the word is that ordinary word and the entry does not match
    guard: frozenset[str] = frozenset()


@dataclass
class _Pending:
    term: str
    category: str | None
    score: float
    index: int  # position of the term in the signal's `terms` (for file:line reports)
    spellings: set[str]


class LexiconMatcher:
    """All lexicon signals of a policy in one automaton keyed by the normalized (squeezed) form."""

    def __init__(self, signals: dict[str, LexiconSignal], max_terms: int) -> None:
        self._automaton = ahocorasick.Automaton()
        pending: dict[str, dict[str, _Pending]] = {}  # key -> signal -> the first term that made it
        count = 0
        for sid, sig in signals.items():
            for index, term in enumerate(sig.expanded_terms()):
                inflect = sig.inflect if term.inflect is None else term.inflect
                score = sig.score if term.score is None else term.score
                category = term.category or sig.category
                forms: set[str] = set()
                for spelling in (term.term, *term.variants):
                    base = spelling.strip().lower()
                    forms |= inflections(base, doers=inflect is True) if inflect else {base}
                for form in forms:
                    norm = normalize(form)
                    key = norm.squeezed.text
                    if not key:
                        continue
                    bucket = pending.setdefault(key, {})
                    if sid not in bucket:
                        bucket[sid] = _Pending(term.term, category, score, index, set())
                        count += 1
                    bucket[sid].spellings.add(norm.text.text)
        if count > max_terms:
            raise LexiconTooLarge(f"lexicons hold {count} terms after inflection, over the limit of {max_terms}")
        self.collisions: list[tuple[tuple[str | int, ...], Collision]] = []
        for key, by_signal in pending.items():
            bucket_entries: list[_TermEntry] = []
            for sid, p in by_signal.items():
                guard = find_collisions(key, frozenset(p.spellings))
                if guard:
                    self.collisions.append((("signals", sid, "terms", p.index), Collision(sid, p.term, key, guard)))
                bucket_entries.append(_TermEntry(sid, p.term, p.category, p.score, guard))
            self._automaton.add_word(key, (len(key), tuple(bucket_entries)))
        self.size = count
        self.signals = frozenset(signals)
        if pending:
            self._automaton.make_automaton()
        self._empty = not pending

    def match(self, norm: NormalizedText) -> dict[str, list[Hit]]:
        out: dict[str, list[Hit]] = {}
        if self._empty:
            return out
        view = norm.squeezed
        text = view.text
        n = len(text)
        for end_idx, (length, bucket) in self._automaton.iter(text):
            start = end_idx - length + 1
            # word boundaries on the normalized text: "art" must not match inside "party"
            if start > 0 and text[start - 1].isalnum():
                continue
            if end_idx + 1 < n and text[end_idx + 1].isalnum():
                continue
            ostart, oend = view.to_original(start, end_idx + 1)
            written: str | None = None
            for entry in bucket:
                if entry.guard:
                    written = _as_written(norm, ostart, oend) if written is None else written
                    if written in entry.guard:
                        continue
                out.setdefault(entry.signal, []).append(
                    Hit(entry.signal, ostart, oend, entry.score, entry.term, entry.category)
                )
        return {sid: _longest(hits) for sid, hits in out.items()}


def _as_written(norm: NormalizedText, start: int, end: int) -> str:
    """The normalized, unsqueezed text of the original span [start, end): the word as written
    after leetspeak/homoglyph/spacing folding, before repeated letters are collapsed."""
    view = norm.text
    a = bisect.bisect_left(view.starts, start)
    b = bisect.bisect_left(view.starts, end)
    return view.text[a:b]


def _longest(hits: list[Hit]) -> list[Hit]:
    """Drop a hit that lies inside a longer hit of the same signal ('virus' inside 'a virus')."""
    if len(hits) < 2:
        return hits
    return [
        h
        for h in hits
        if not any(
            o is not h and o.start <= h.start and h.end <= o.end and (o.end - o.start) > (h.end - h.start) for o in hits
        )
    ]


class RegexMatcher:
    """One regex signal: RE2 patterns over the normalized text (or the original, if asked)."""

    def __init__(self, signal_id: str, signal: RegexSignal) -> None:
        self.signal_id = signal_id
        self.signal = signal
        self._patterns: list[tuple[str, re2._Regexp, int | None]] = []
        refused: list[tuple[int, str]] = []
        options = re2.Options()
        options.max_mem = 8 << 20  # bound what one pattern may cost
        options.log_errors = False  # a refused pattern is reported as a policy error, not as RE2's stderr line
        for i, pattern in enumerate(signal.patterns):
            try:
                rx = re2.compile(pattern, options)
                # a group named `hit` narrows the evidence: "must be (?P<hit>eliminated)"
                self._patterns.append((pattern, rx, rx.groupindex.get("hit")))
            except re2.error as exc:
                reason = exc.args[0] if exc.args else exc
                if isinstance(reason, bytes):
                    reason = reason.decode("utf-8", "replace")
                refused.append((i, f"RE2 refuses the pattern: {reason}"))
        if refused:
            raise PatternsRefused(refused)

    @property
    def patterns(self) -> list[str]:
        return [p for p, _, _ in self._patterns]

    def match(self, norm: NormalizedText, only: set[int] | None = None) -> list[Hit]:
        """Hits of every pattern (or of the pattern indices in `only`, found by a `RegexPrefilter`)."""
        hits: list[Hit] = []
        original = self.signal.on == "original"
        view = norm.text
        haystack = norm.original if original else view.text
        text = norm.original
        for i, (_, rx, group) in enumerate(self._patterns):
            if only is not None and i not in only:
                continue
            for m in rx.finditer(haystack):
                start, end = m.span(group) if group is not None and m.span(group)[0] >= 0 else m.span()
                if end <= start:
                    continue
                if not original:
                    start, end = view.to_original(start, end)
                start, end = trim_to_words(text, start, end)
                hits.append(Hit(self.signal_id, start, end, self.signal.score, f"patterns[{i}]", self.signal.category))
        return hits


def trim_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without the spaces and punctuation a pattern caught around its words
    ("kill " -> "kill"); a span of punctuation only is kept as it is."""
    s, e = start, end
    while s < e and not text[s].isalnum():
        s += 1
    while e > s and not text[e - 1].isalnum():
        e -= 1
    return (s, e) if s < e else (start, end)


class RegexPrefilter:
    """One RE2 set over every pattern of a policy: a single pass says which patterns can match,
    so the per-pattern scans (needed for spans) run only for those, usually none."""

    def __init__(self, matchers: dict[str, RegexMatcher]) -> None:
        self._index: list[tuple[str, int]] = []  # set position -> (signal, pattern index)
        self._sets: dict[bool, re2.Set] = {}
        for on_original in (False, True):
            rset = re2.Set.SearchSet()
            added = 0
            for sid, m in matchers.items():
                if (m.signal.on == "original") is not on_original:
                    continue
                for i, pattern in enumerate(m.patterns):
                    rset.Add(pattern)
                    self._index.append((sid, i))
                    added += 1
            if added:
                rset.Compile()
                self._sets[on_original] = rset
        self._offsets = {False: 0, True: sum(1 for sid, _ in self._index if matchers[sid].signal.on != "original")}

    def candidates(self, norm: NormalizedText) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for on_original, rset in self._sets.items():
            haystack = norm.original if on_original else norm.text.text
            base = self._offsets[on_original]
            for k in rset.Match(haystack) or ():
                sid, i = self._index[base + k]
                out.setdefault(sid, set()).add(i)
        return out


class TokenIndex:
    """Whitespace tokens of the original post, to measure proximity in words."""

    def __init__(self, original: str) -> None:
        self._starts = [m.start() for m in _WORD.finditer(original)]
        self._sentence_ends = [m.end() for m in _SENTENCE_END.finditer(original)]

    def token_of(self, offset: int) -> int:
        return max(bisect.bisect_right(self._starts, offset) - 1, 0)

    def sentence_of(self, offset: int) -> int:
        return bisect.bisect_right(self._sentence_ends, offset)


def proximity_hits(
    signal_id: str,
    signal: ProximitySignal,
    anchors: Iterable[Hit],
    targets: Iterable[Hit],
    tokens: TokenIndex,
    blockers: Iterable[Hit] = (),
) -> list[tuple[Hit, Hit, float]]:
    """Pairs (anchor, target) with at most `window` words between them, in the order asked."""
    pairs: list[tuple[Hit, Hit, float]] = []
    blocks = list(blockers)

    def overlapped(h: Hit) -> bool:
        return any(b.start <= h.start and h.end <= b.end and (b.start, b.end) != (h.start, h.end) for b in blocks)

    def between(x: Hit, y: Hit) -> bool:
        lo, hi = (x.end, y.start) if x.end <= y.start else (y.end, x.start)
        return any(lo <= b.start and b.end <= hi for b in blocks)

    target_list = [t for t in targets if not overlapped(t)]
    for a in anchors:
        if overlapped(a):
            continue
        a_first, a_last = tokens.token_of(a.start), tokens.token_of(a.end - 1)
        for t in target_list:
            if a.start < t.end and t.start < a.end:
                continue  # the same words can't be both sides
            t_first, t_last = tokens.token_of(t.start), tokens.token_of(t.end - 1)
            if t_first > a_last:
                gap, order = t_first - a_last - 1, "anchor_first"
            elif a_first > t_last:
                gap, order = a_first - t_last - 1, "target_first"
            else:
                gap, order = 0, "any"
            if gap > signal.window:
                continue
            if signal.order != "any" and order not in (signal.order, "any"):
                continue
            if signal.same_sentence and tokens.sentence_of(a.start) != tokens.sentence_of(t.start):
                continue
            if blocks and between(a, t):
                continue
            score = signal.score if signal.score is not None else min(a.score, t.score)
            pairs.append((a, t, score))
    return pairs
