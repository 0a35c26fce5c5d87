"""Property tests: whatever the post, every evidence span slices the original text exactly,
and obfuscating a hateful post does not hide it."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gavel.engine.results import Verdict
from gavel.runtime import Runtime

_NOISE = st.text(
    alphabet=st.characters(
        codec="utf-8",
        categories=["L", "M", "N", "P", "S", "Z", "Cf"],
        include_characters="\u200b\u200d\u202e\u00ad😀🇮🇱\U0001f9a0",
    ),
    max_size=40,
)
_PHRASES = st.sampled_from(
    ["Jews are vermin", "muslims must be exterminated", "kill all the gays", "Israel is a virus", "the final solution"]
)


def _zero_width(word: str) -> str:
    return "\u200b".join(word)


def _leet(word: str) -> str:
    return word.translate(str.maketrans({"e": "3", "i": "1", "a": "4", "o": "0"}))


def _spaced(word: str) -> str:
    return " ".join(word)


def _fullwidth(word: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)


_OBFUSCATIONS = st.sampled_from([_zero_width, _leet, _spaced, _fullwidth, str.upper, lambda w: w])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=_NOISE, phrase=_PHRASES, after=_NOISE)
def test_evidence_slices_original(rules_runtime: Runtime, before: str, phrase: str, after: str) -> None:
    text = f"{before} {phrase} {after}"
    result = asyncio.run(rules_runtime.evaluator.evaluate(text, ["hateful_conduct"]))
    for policy in result.policies:
        for clause in policy.clauses:
            for e in [*clause.evidence, *(x for hit in clause.exceptions for x in hit.evidence)]:
                assert 0 <= e.start < e.end <= len(text)
                assert text[e.start : e.end] == e.text
                assert e.start_utf16 == len(text[: e.start].encode("utf-16-le")) // 2
                assert e.end_utf16 == len(text[: e.end].encode("utf-16-le")) // 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obfuscate=_OBFUSCATIONS, group=st.sampled_from(["jews", "muslims", "immigrants", "gays"]))
def test_obfuscated_target_word_is_still_found(rules_runtime: Runtime, obfuscate: object, group: str) -> None:
    hidden = obfuscate(group)  # type: ignore[operator]
    text = f"{hidden} are vermin"
    result = asyncio.run(rules_runtime.evaluator.evaluate(text, ["hateful_conduct"]))
    clause = next(c for c in result.policies[0].clauses if c.clause_id == "dehumanization")
    assert clause.verdict is Verdict.VIOLATES, (text, clause.explanation)
    assert any(e.text == hidden for e in clause.evidence), [e.text for e in clause.evidence]
