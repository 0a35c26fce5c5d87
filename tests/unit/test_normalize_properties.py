"""Properties of normalize over arbitrary Unicode: offset maps stay valid whatever comes in."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gavel.engine.normalize import NormalizedView, Utf16Index, normalize, normalize_term

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PIECES = [
    "😀",
    "👩\u200d💻",
    "❤\ufe0f",
    "🇫🇷",
    "1\ufe0f\u20e3",
    "\U0001f3fb",
    "𠀀",
    "𝐤",
    "\u0301",
    "\u0308",
    "\u20dd",
    "\u034f",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u202e",
    "\u2067",
    "\u3164",
    "مرحبا",
    "\u064e",
    "שָׁלוֹם",
    "ﬁ",
    "ß",
    "İ",
    "ｋｉｌｌ",
    "кіll",
    "ο",
    "한",
    "0",
    "1",
    "3",
    "4",
    "5",
    "7",
    "8",
    "@",
    "$",
    "!",
    "|",
    "+",
    "€",
    "#",
    " ",
    "  ",
    ".",
    "-",
    "_",
    "*",
    "·",
    "\t",
    "\n",
    "\u00a0",
    "\u3000",
    "k",
    "i",
    "l",
    "a",
    "e",
    "kill",
    "K",
]

mixed_text = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=30).map("".join)
any_text = st.one_of(st.text(max_size=60), mixed_text)
ascii_text = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=60)
ascii_mixed = st.lists(st.one_of(st.sampled_from([p for p in _PIECES if p.isascii()]), ascii_text), max_size=20).map(
    "".join
)


def check_view(view: NormalizedView, original: str) -> None:
    n = len(view.text)
    assert len(view.starts) == n
    assert len(view.ends) == n
    for i in range(n):
        assert 0 <= view.starts[i] < view.ends[i] <= len(original)
    for i in range(1, n):
        assert view.starts[i - 1] <= view.starts[i]
        assert view.ends[i - 1] <= view.ends[i]


@FAST
@given(any_text)
def test_offset_maps_are_valid(original: str) -> None:
    norm = normalize(original)
    assert norm.original == original
    check_view(norm.text, original)
    check_view(norm.squeezed, original)


@FAST
@given(any_text, st.data())
def test_any_span_maps_to_a_valid_original_slice(original: str, data: st.DataObject) -> None:
    norm = normalize(original)
    for view in (norm.text, norm.squeezed):
        n = len(view.text)
        if n == 0:
            continue
        start = data.draw(st.integers(0, n - 1))
        end = data.draw(st.integers(start + 1, n))
        ostart, oend = view.to_original(start, end)
        assert 0 <= ostart < oend <= len(original)
        assert original[ostart:oend]
        # every normalized char of the span comes from inside the original slice
        assert all(ostart <= view.starts[i] and view.ends[i] <= oend for i in range(start, end))


@FAST
@given(any_text)
def test_squeezed_has_no_repeated_letters(original: str) -> None:
    s = normalize(original).squeezed.text
    assert not any(a == b and a.isalpha() for a, b in pairwise(s))


@FAST
@given(any_text)
def test_text_has_canonical_whitespace(original: str) -> None:
    t = normalize(original).text.text
    assert t == " ".join(t.split())


@FAST
@given(st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8), max_size=12))
def test_lowercase_words_are_unchanged(words: list[str]) -> None:
    # single-letter words are left out: three of them in a row join by design ("k i l l")
    original = " ".join(words)
    norm = normalize(original)
    assert norm.text.text == original
    assert norm.text.starts == list(range(len(original)))
    assert norm.text.ends == list(range(1, len(original) + 1))


@FAST
@given(any_text)
def test_normalize_term_is_the_squeezed_view(original: str) -> None:
    assert normalize_term(original) == normalize(original).squeezed.text


@FAST
@given(st.one_of(ascii_text, ascii_mixed))
def test_normalize_is_idempotent_on_ascii(original: str) -> None:
    once = normalize(original).text.text
    assert normalize(once).text.text == once


with_surrogates = st.text(
    st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    max_size=40,
)


@FAST
@given(st.one_of(any_text, with_surrogates))
def test_utf16_index_matches_the_encoding(original: str) -> None:
    index = Utf16Index(original)
    for i in range(len(original) + 1):
        assert index(i) == len(original[:i].encode("utf-16-le", "surrogatepass")) // 2


@FAST
@given(with_surrogates)
def test_lone_surrogates_keep_valid_offsets(original: str) -> None:
    # JSON can carry lone surrogates ("\\ud800"); they must not break the offset map
    norm = normalize(original)
    check_view(norm.text, original)
    check_view(norm.squeezed, original)
