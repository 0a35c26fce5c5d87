"""Lexicon folding must not turn ordinary words into lexicon terms (issue 14)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gavel.cli import app
from gavel.engine.collisions import common_words_by_key, find_collisions, squeeze_word
from gavel.engine.compiler import CompiledPolicy, compile_policy
from gavel.engine.evaluator import Evaluator
from gavel.engine.inflect import inflections
from gavel.engine.loader import load_policy_file, parse_policy
from gavel.engine.normalize import normalize
from gavel.engine.registry import PolicyRegistry
from gavel.engine.results import Action, Verdict
from gavel.runtime import Runtime, build_runtime
from gavel.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICIES = sorted(p for p in (ROOT / "policies").glob("*.yaml") if not p.name.endswith(".cases.yaml"))

POLICY = """
id: fold
version: "1"
title: Folding
source: {text: "No slurs."}
signals:
  slurs: {kind: lexicon, terms: [{term: coons, variants: [coon]}, nigger]}
clauses:
  - {id: slur, title: Slur, when: slurs}
"""


def _compiled(path: Path) -> CompiledPolicy:
    return compile_policy(load_policy_file(path), None)


def _hits(cp: CompiledPolicy, text: str) -> set[str]:
    return set(cp.lexicon.match(normalize(text)))


def test_common_words_are_indexed_by_their_squeezed_form() -> None:
    index = common_words_by_key()
    assert "cons" in index["cons"]
    assert "niger" in index["niger"]
    assert squeeze_word("coooons") == "cons"
    assert "kil" not in index or "kill" in index["kil"]  # "kil" itself is not a common word


def test_a_collision_excludes_the_terms_own_spellings() -> None:
    assert find_collisions("cons", frozenset({"coons"})) == frozenset({"cons"})
    assert find_collisions("shot", frozenset({"shoot", "shot"})) == frozenset()
    assert find_collisions("gas chambers", frozenset({"gas chambers"})) == frozenset()


def test_folded_spelling_still_matches_but_the_ordinary_word_does_not() -> None:
    cp = compile_policy(parse_policy(POLICY, "fold.yaml"), None)
    assert _hits(cp, "Pros and cons of the new transit plan") == set()
    assert _hits(cp, "He is a con artist.") == set()
    assert _hits(cp, "Niger signed a trade deal.") == set()
    # the slur as written, and obfuscated spellings that are not ordinary words, still match
    assert _hits(cp, "those coons") == {"slurs"}
    assert _hits(cp, "those cooooons") == {"slurs"}
    assert _hits(cp, "nigggger") == {"slurs"}
    # leetspeak or homoglyphs that spell the ordinary word are the ordinary word
    assert _hits(cp, "pros and c0ns") == set()


def test_collisions_are_reported_with_file_and_line() -> None:
    cp = compile_policy(parse_policy(POLICY, "fold.yaml"), None)
    joined = "\n".join(cp.warnings)
    assert re.search(r"^fold\.yaml:\d+:\d+: signals\.slurs\.terms\[0\]: .*'cons'", joined, re.M)
    assert re.search(r"signals\.slurs\.terms\[1\]: .*'niger'", joined)


def test_gavel_validate_prints_the_collisions_as_warnings(tmp_path: Path) -> None:
    path = tmp_path / "fold.yaml"
    path.write_text(POLICY, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert "warning: " in result.output and "signals.slurs.terms[0]" in result.output


def test_inflections_without_doer_nouns() -> None:
    assert {"killer", "killers"} <= inflections("kill")
    verb = inflections("kill", doers=False)
    assert {"kill", "kills", "killed", "killing"} <= verb and not {"killer", "killers"} & verb
    # the -s form of a verb that itself ends in -er stays (murders), its doer goes (murderer)
    assert "murders" in inflections("murder", doers=False)
    assert "murderer" not in inflections("murder", doers=False)
    assert {"extermination", "exterminated"} <= inflections("exterminate", doers=False)
    assert "exterminator" not in inflections("exterminate", doers=False)
    assert "wiping out" in inflections("wipe out", doers=False)


def test_inflections_do_not_lean_on_folding() -> None:
    assert {"dying", "dies", "died"} <= inflections("die")
    assert "diing" not in inflections("die")
    assert {"gassed", "gassing"} <= inflections("gas")


@pytest.mark.parametrize("path", DEFAULT_POLICIES, ids=lambda p: p.name)
def test_no_default_term_matches_a_common_word_through_folding(path: Path) -> None:
    """Every common English word that folds onto a lexicon key of a default policy, written as
    itself, must not hit that key's guarded signals."""
    cp = _compiled(path)
    assert cp.lexicon.collisions, "the default policies are known to hold colliding keys"
    for _loc, collision in cp.lexicon.collisions:
        for word in collision.words:
            hits = cp.lexicon.match(normalize(f"about {word} today"))
            found = [h for h in hits.get(collision.signal, []) if h.what == collision.term]
            assert not found, f"{path.name}: '{word}' matched term '{collision.term}' of {collision.signal}"


@pytest.mark.parametrize(
    "text",
    [
        "Pros and cons of the new transit plan",
        "He is a con artist.",
        "Stop killing Black people, police!",
        "Orange Day: eliminating violence against women starts with us.",
        "I will oppose extrajudicial killing and the abuse of women.",
        "Holiday gifts for the nasty women in your life",
    ],
)
def test_issue_14_posts_are_not_removed(text: str) -> None:
    cp = _compiled(ROOT / "policies" / "hateful_conduct.yaml")
    result = asyncio.run(Evaluator(PolicyRegistry.from_policies({cp.id: cp}), None).evaluate(text))
    assert result.decision.action is not Action.REMOVE
    assert all(c.verdict is not Verdict.VIOLATES for c in result.policies[0].clauses)


def test_a_set_aside_harm_word_is_explained_in_the_clause(rules_runtime: Runtime) -> None:
    result = asyncio.run(rules_runtime.evaluator.evaluate("Stop killing Black people, police!", ["hateful_conduct"]))
    clause = next(c for c in result.policies[0].clauses if c.clause_id == "calls_for_harm")
    assert clause.verdict is Verdict.NO_VIOLATION
    (hit,) = [x for x in clause.exceptions if x.exception_id == "opposed_harm"]
    assert hit.verdict_before is Verdict.VIOLATES
    texts = {e.text: e.explanation for e in hit.evidence}
    assert "governed by 'Stop'" in texts["killing"]


@pytest.fixture(scope="module")
def hate_runtime() -> Runtime:
    return build_runtime(Settings(models="hate", policy_dir=ROOT / "policies"))


@pytest.mark.parametrize(
    ("text", "clause_id", "exception_prefix", "word", "cue"),
    [
        ("Please stop using the word retard, it hurts people.", "slurs_and_tropes", "mentioned_", "retard", "the word"),
        (
            "People who say refugees are parasites have never met one.",
            "dehumanization",
            "attributed_",
            "parasites",
            "People who say",
        ),
        # the fourth round's cues: an idiom around the harm word, one person named by a gender
        # word, the speaker's own nationality, an attitude reported of others
        (
            "Doctors make life-or-death decisions about women every day.",
            "calls_for_harm",
            "harm_idiom",
            "death",
            "life-or-death",
        ),
        ("She is one vile woman, lying to the whole town like that.", "derogation", "one_person", "woman", "one vile"),
        (
            "Us ordinary Americans are sick of paying for their mistakes.",
            "derogation",
            "speaker_in_group",
            "Americans",
            "Us ordinary",
        ),
        (
            "We march because racist cops keep shooting unarmed Black men.",
            "calls_for_harm",
            "doers_named",
            "shooting",
            "cops keep",
        ),
        (
            "They hated the Irish back then, signs said so in every window.",
            "derogation",
            "reported_attitude",
            "hated",
            "They",
        ),
    ],
)
def test_a_mention_or_a_reported_claim_is_set_aside_and_explained(
    hate_runtime: Runtime, text: str, clause_id: str, exception_prefix: str, word: str, cue: str
) -> None:
    """Cues that set a word aside, with the shipped model: the clause
    answers no_violation and names the exception, the word it set aside and the cue that governed
    it, so a reviewer sees why."""
    result = asyncio.run(hate_runtime.evaluator.evaluate(text, ["hateful_conduct"]))
    clause = next(c for c in result.policies[0].clauses if c.clause_id == clause_id)
    assert clause.verdict is Verdict.NO_VIOLATION
    hits = [x for x in clause.exceptions if x.exception_id.startswith(exception_prefix)]
    assert hits and all(x.verdict_before is Verdict.VIOLATES for x in hits), clause.exceptions
    explained = {e.text: e.explanation for x in hits for e in x.evidence}
    assert word in explained, explained
    assert f"governed by '{cue}'" in explained[word]
