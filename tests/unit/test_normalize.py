"""Normalization steps, each with the offsets it leaves behind."""

from __future__ import annotations

import pytest

from gavel.engine.normalize import (
    NormalizedText,
    NormalizedView,
    Utf16Index,
    normalize,
    normalize_term,
)


def original_of(view: NormalizedView, original: str, needle: str) -> str:
    """The original slice a normalized substring maps back to."""
    i = view.text.index(needle)
    start, end = view.to_original(i, i + len(needle))
    return original[start:end]


def test_example_from_the_brief() -> None:
    post = "K1ll   all the j3ws"
    n = normalize(post)
    assert n.text.text == "kill all the jews"
    assert "kil al the jews" in n.squeezed.text
    assert original_of(n.squeezed, post, "jews") == "j3ws"
    assert original_of(n.squeezed, post, "kil") == "K1ll"
    assert original_of(n.text, post, "kill all") == "K1ll   all"


def test_views_point_into_the_original() -> None:
    n = normalize("Hello  World")
    assert isinstance(n, NormalizedText)
    assert n.original == "Hello  World"
    assert n.text.starts == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert n.text.ends == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert n.squeezed.text == "helo world"
    assert n.squeezed.starts[2] == 2 and n.squeezed.ends[2] == 4  # "l" covers "ll"


def test_to_original_rejects_empty_and_out_of_range_spans() -> None:
    view = normalize("kill").text
    assert view.to_original(0, 4) == (0, 4)
    for start, end in [(2, 2), (3, 1), (-1, 2), (0, 5)]:
        with pytest.raises(ValueError):
            view.to_original(start, end)


# Step 1: invisible chars


@pytest.mark.parametrize(
    "post",
    [
        "ki\u200bll",
        "k\u200ci\u200dll",
        "kil\u00adl",
        "\ufeffkill",
        "ki\u2060ll",
        "k\u034fill",
        "\u202ekill\u202c",
        "k\u2066ill\u2069",
    ],
)
def test_invisible_chars_vanish_and_the_span_covers_them(post: str) -> None:
    n = normalize(post)
    assert n.text.text == "kill"
    start, end = n.text.to_original(0, 4)
    assert post[start:end].replace("\u202c", "").replace("\u2069", "")  # non-empty
    assert start == post.index("k")
    assert end == post.rindex("l") + 1


def test_zero_width_inside_a_word_maps_back_to_the_whole_word() -> None:
    post = "go ki\u200bll them"
    n = normalize(post)
    assert n.squeezed.text == "go kil them"
    assert original_of(n.squeezed, post, "kil") == "ki\u200bll"


# Step 2: compatibility forms, case, accents


def test_fullwidth_folds_to_ascii() -> None:
    post = "ｋｉｌｌ them"
    n = normalize(post)
    assert n.text.text == "kill them"
    assert original_of(n.text, post, "kill") == "ｋｉｌｌ"


def test_accents_fold_and_combining_marks_vanish() -> None:
    post = "Café re\u0301sume\u0301"
    n = normalize(post)
    assert n.text.text == "cafe resume"
    assert original_of(n.text, post, "resume") == "re\u0301sume\u0301"
    assert normalize("\u0301\u0308").text.text == ""


def test_a_ligature_expands_and_both_chars_keep_its_range() -> None:
    post = "ﬁne"
    n = normalize(post)
    assert n.text.text == "fine"
    assert n.text.starts[:2] == [0, 0] and n.text.ends[:2] == [1, 1]
    assert original_of(n.text, post, "i") == "ﬁ"


def test_casefold_and_math_alphanumerics() -> None:
    assert normalize("STRASSE Straße").text.text == "strasse strasse"
    assert normalize("𝐤𝐢𝐥𝐥").text.text == "kill"


def test_hangul_stays_composed() -> None:
    assert normalize("한국어").text.text == "한국어"


# Step 3: homoglyphs


def test_cyrillic_i_in_a_latin_word_folds() -> None:
    post = "k\u0456ll them"  # Cyrillic і
    n = normalize(post)
    assert n.text.text == "kill them"
    assert original_of(n.squeezed, post, "kil") == "k\u0456ll"


def test_mixed_greek_and_cyrillic_lookalikes_fold() -> None:
    assert normalize("h\u0430t\u0435").text.text == "hate"  # Cyrillic а, е
    assert normalize("\u03bfk").text.text == "ok"  # Greek ο


def test_pure_cyrillic_and_greek_words_stay() -> None:
    assert normalize("кот и собака").text.text == "кот и собака"
    assert normalize("Καλημέρα").text.text == "καλημερα"


# Step 4: leetspeak


@pytest.mark.parametrize(
    ("post", "expected"),
    [
        ("h3ll0", "hello"),
        ("$h1t", "shit"),
        ("sh!t", "shit"),
        ("a$$", "ass"),
        ("wh@t", "what"),
        ("7r4$h", "trash"),
        ("b|ind", "blind"),
        ("k1ll!!", "kill!!"),
        ("lgbtq+", "lgbtq+"),
    ],
)
def test_leet_folds_inside_tokens_with_letters(post: str, expected: str) -> None:
    assert normalize(post).text.text == expected


@pytest.mark.parametrize("post", ["2020", "$100", "4:30", "1+1", "!!!", "@user", "#tag"])
def test_leet_leaves_tokens_without_letters_mentions_and_hashtags(post: str) -> None:
    assert normalize(post).text.text == post.lower()


def test_leading_at_stays_but_the_rest_of_the_mention_folds() -> None:
    post = "@h4ter #h4te"
    n = normalize(post)
    assert n.text.text == "@hater #hate"
    assert original_of(n.text, post, "hate") == "h4te"


def test_leet_keeps_offsets_one_to_one() -> None:
    post = "j3ws"
    n = normalize(post)
    assert n.text.starts == [0, 1, 2, 3]
    assert n.text.ends == [1, 2, 3, 4]


# Step 5: split letters and whitespace


@pytest.mark.parametrize("post", ["k.i.l.l", "k i l l", "k-i-l-l", "k_i_l_l", "k*i*l*l", "k·i·l·l"])
def test_split_letters_join(post: str) -> None:
    n = normalize(post)
    assert n.text.text == "kill"
    assert n.squeezed.text == "kil"
    assert n.squeezed.to_original(0, 3) == (0, len(post))


def test_split_letters_join_inside_a_sentence() -> None:
    post = "we will k.i.l.l. them"
    n = normalize(post)
    assert n.text.text == "we will kill. them"
    assert original_of(n.squeezed, post, "kil.") == "k.i.l.l."


def test_split_leet_letters_join_after_leet() -> None:
    assert normalize("k.1.l.l").text.text == "kill"


@pytest.mark.parametrize(
    ("post", "expected"),
    [
        ("a b", "a b"),
        ("a.b", "a.b"),
        ("i am a b", "i am a b"),
        ("e.g. this", "e.g. this"),
        ("ab.c.d", "ab.c.d"),
        ("a.b-c", "a.b-c"),
        ("a  b", "a b"),
    ],
)
def test_two_letters_or_mixed_separators_do_not_join(post: str, expected: str) -> None:
    assert normalize(post).text.text == expected


def test_only_the_uniform_part_of_a_mixed_run_joins() -> None:
    assert normalize("a-b.c.d").text.text == "a-bcd"
    assert normalize("ab.c.d.e").text.text == "ab.cde"


def test_whitespace_runs_count_as_one_separator() -> None:
    assert normalize("k  i\tl\nl").text.text == "kill"


def test_whitespace_collapses_and_strips() -> None:
    post = "  hate\t\n  you \u00a0 all  "
    n = normalize(post)
    assert n.text.text == "hate you all"
    space = n.text.text.index(" ")
    start, end = n.text.to_original(space, space + 1)
    assert post[start:end] == "\t\n  "
    assert normalize(" \n\t\u3000 ").text.text == ""
    assert normalize("").text == NormalizedView("", [], [])


# Step 6: squeezed


def test_squeeze_collapses_runs_of_the_same_letter() -> None:
    post = "kiiiill   yoouu"
    n = normalize(post)
    assert n.squeezed.text == "kil you"
    assert original_of(n.squeezed, post, "kil") == "kiiiill"
    assert original_of(n.squeezed, post, "you") == "yoouu"
    assert n.text.text == "kiiiill yoouu"


def test_squeeze_leaves_digits_and_punctuation() -> None:
    assert normalize("2000 !!! ...").squeezed.text == "2000 !!! ..."


def test_squeeze_points_into_the_original_across_leet() -> None:
    post = "k1llll"
    n = normalize(post)
    assert n.squeezed.text == "kil"
    assert n.squeezed.starts == [0, 1, 2]
    assert n.squeezed.ends == [1, 2, 6]


# Emoji and astral chars


def test_emoji_and_astral_chars_are_unchanged() -> None:
    post = "😀 hate 𠀀 🇫🇷"
    n = normalize(post)
    assert n.text.text == post
    assert original_of(n.text, post, "hate") == "hate"


def test_emoji_variation_selector_and_zwj_vanish_inside_the_span() -> None:
    post = "❤\ufe0f 👩\u200d💻 hate"
    n = normalize(post)
    assert n.text.text == "❤ 👩💻 hate"
    assert original_of(n.text, post, "👩💻") == "👩\u200d💻"


# normalize_term


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("kill", "kil"),
        ("Final Solution", "final solution"),
        ("  final   solution ", "final solution"),
        ("k1ll", "kil"),
        ("naïve", "naive"),
        ("", ""),
    ],
)
def test_normalize_term(term: str, expected: str) -> None:
    assert normalize_term(term) == expected
    assert normalize_term(term) == normalize(term).squeezed.text


# Utf16Index


def test_utf16_offsets_after_an_emoji() -> None:
    post = "😀 hate"
    index = Utf16Index(post)
    start = post.index("hate")
    assert start == 2
    assert index(start) == 3
    assert index(len(post)) == 7
    assert index(0) == 0


def test_utf16_is_the_identity_without_astral_chars() -> None:
    post = "héllo wörld"
    index = Utf16Index(post)
    assert [index(i) for i in range(len(post) + 1)] == list(range(len(post) + 1))


def test_utf16_rejects_offsets_outside_the_text() -> None:
    index = Utf16Index("😀a")
    with pytest.raises(IndexError):
        index(3)
    with pytest.raises(IndexError):
        index(-1)


@pytest.mark.parametrize(
    ("post", "text", "word"),
    [("i h8 women", "i hate women", "h8"), ("h8ers gonna h8", "hateers gonna hate", "h8ers"), ("see u l8r", "see u later", "l8r")],
)
def test_eight_after_a_consonant_reads_ate_and_maps_back(post: str, text: str, word: str) -> None:
    n = normalize(post)
    assert n.text.text == text
    i = text.index(word.replace("8", "ate")) if "8" in word else text.index(word)
    start, end = n.text.to_original(i, i + len(word.replace("8", "ate")))
    assert post[start:end] == word


@pytest.mark.parametrize("post", ["i have 8 cats", "a8 is a car", "4x8 sheet"])
def test_eight_elsewhere_is_not_ate(post: str) -> None:
    assert "ate" not in normalize(post).text.text


def test_a_final_z_reads_as_a_plural_s_for_lexicons_only() -> None:
    n = normalize("gayz and retardz")
    assert n.text.text == "gayz and retardz"
    assert n.squeezed.text == "gays and retards"
    i = n.squeezed.text.index("retards")
    assert n.original[slice(*n.squeezed.to_original(i, i + 7))] == "retardz"
