"""Clause scoring, exceptions and decisions on small inline policies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gavel.engine.compiler import compile_policy
from gavel.engine.evaluator import Evaluator
from gavel.engine.loader import parse_policy
from gavel.engine.registry import PolicyRegistry
from gavel.engine.results import Action, EvaluationResult, Verdict

POLICY = """
id: demo
version: "7"
title: Demo
source: {text: "No attacks on groups."}
signals:
  harm: {kind: lexicon, inflect: true, terms: [kill, eliminate, {term: deport, score: 0.5}]}
  groups: {kind: lexicon, terms: [jews, muslims, {term: immigrants, category: national_origin}]}
  states: {kind: lexicon, terms: [israel, the regime]}
  harm_group: {kind: proximity, anchor: harm, target: groups, window: 3, blocked_by: [states]}
  harm_state: {kind: proximity, anchor: harm, target: states, window: 3}
  negation: {kind: regex, patterns: ["\\\\b(not|never|nobody)\\\\b"]}
  condemn: {kind: regex, patterns: ["\\\\bcondemn\\\\w*"]}
  strikes: {kind: context, field: author.strikes, op: gte, value: 3}
exceptions:
  - {id: negated, effect: suppress, suppress: harm, when: negation, window: 2, explanation: negated}
  - {id: counter, effect: clear, when: condemn, explanation: counter-speech}
clauses:
  - id: calls
    title: Calls for harm
    when:
      any_of:
        - signal: harm_group
          explain: harm near a group
        - signal: harm_state
          weight: 0.5
          explain: harm near a state
    exceptions: [negated, counter]
  - id: mentions
    title: Mentions only
    when: {all_of: [groups, {none_of: [harm]}]}
    thresholds: {violates: 1.0, needs_review: 0.5}
    actions: {violates: review, needs_review: allow}
decision:
  escalate:
    - {when: strikes, from: review, to: remove, reason: repeat offender}
"""


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    compiled = compile_policy(parse_policy(POLICY, "demo.yaml"), None)
    return Evaluator(PolicyRegistry.from_policies({"demo": compiled}), None)


def run(evaluator: Evaluator, text: str, context: dict[str, object] | None = None) -> EvaluationResult:
    return asyncio.run(evaluator.evaluate(text, None, context))


def clause(result: EvaluationResult, cid: str):  # type: ignore[no-untyped-def]
    return next(c for c in result.policies[0].clauses if c.clause_id == cid)


def test_group_target_violates_state_target_reviews(evaluator: Evaluator) -> None:
    r = run(evaluator, "kill the muslims")
    assert clause(r, "calls").verdict is Verdict.VIOLATES
    assert r.decision.action is Action.REMOVE
    r = run(evaluator, "eliminate the regime")
    c = clause(r, "calls")
    assert c.verdict is Verdict.NEEDS_REVIEW and c.score == 0.5
    assert "harm near a state" in c.explanation
    assert r.decision.action is Action.REVIEW


def test_inflection_and_lower_scored_term(evaluator: Evaluator) -> None:
    assert clause(run(evaluator, "eliminating jews"), "calls").verdict is Verdict.VIOLATES
    assert clause(run(evaluator, "deported immigrants"), "calls").verdict is Verdict.NEEDS_REVIEW


def test_window_and_blocking(evaluator: Evaluator) -> None:
    assert clause(run(evaluator, "kill one two three four jews"), "calls").verdict is Verdict.NO_VIOLATION
    # a state between the harm word and the group breaks the pair: the state is the object
    c = clause(run(evaluator, "eliminate israel jews"), "calls")
    assert c.verdict is Verdict.NEEDS_REVIEW
    # proximity does not cross sentences
    assert clause(run(evaluator, "We will kill. Jews arrived."), "calls").verdict is Verdict.NO_VIOLATION


def test_negation_suppresses_only_negated_hits(evaluator: Evaluator) -> None:
    c = clause(run(evaluator, "nobody should kill jews"), "calls")
    assert c.verdict is Verdict.NO_VIOLATION
    assert [x.exception_id for x in c.exceptions] == ["negated"]
    assert c.exceptions[0].verdict_before is Verdict.VIOLATES
    assert {e.text for e in c.exceptions[0].evidence} == {"nobody", "kill"}


def test_counter_speech_clears_with_span(evaluator: Evaluator) -> None:
    text = "I condemn anyone who says kill the jews"
    c = clause(run(evaluator, text), "calls")
    assert c.verdict is Verdict.NO_VIOLATION
    hit = c.exceptions[0]
    assert hit.exception_id == "counter" and hit.verdict_before is Verdict.VIOLATES
    assert text[hit.evidence[0].start : hit.evidence[0].end] == "condemn"


def test_none_of_and_clause_action_override(evaluator: Evaluator) -> None:
    r = run(evaluator, "the jews of Paris")
    assert clause(r, "mentions").verdict is Verdict.VIOLATES
    assert r.decision.action is Action.REVIEW  # the clause maps violates to review
    assert clause(run(evaluator, "kill jews"), "mentions").verdict is Verdict.NO_VIOLATION


def test_context_escalation(evaluator: Evaluator) -> None:
    assert run(evaluator, "eliminate the regime").decision.action is Action.REVIEW
    r = run(evaluator, "eliminate the regime", {"author": {"strikes": 3}})
    assert r.decision.action is Action.REMOVE
    assert "demo: escalated to remove: repeat offender" in r.decision.reasons
    assert run(evaluator, "eliminate the regime", {"author": {"strikes": "x"}}).decision.action is Action.REVIEW


def test_evidence_points_into_original(evaluator: Evaluator) -> None:
    text = "K1LL   the  ｍｕｓｌｉｍｓ!!"
    c = clause(run(evaluator, text), "calls")
    assert c.verdict is Verdict.VIOLATES
    assert {e.text for e in c.evidence} == {"K1LL", "ｍｕｓｌｉｍｓ"}
    for e in c.evidence:
        assert text[e.start : e.end] == e.text


def test_unknown_policy(evaluator: Evaluator) -> None:
    from gavel.errors import UnknownPolicyError

    with pytest.raises(UnknownPolicyError):
        asyncio.run(evaluator.evaluate("x", ["nope"]))


def test_policy_digest_and_version(evaluator: Evaluator, tmp_path: Path) -> None:
    r = run(evaluator, "hello")
    assert r.policies[0].version == "7"
    assert r.policies[0].digest.startswith("sha256:") and len(r.policies[0].digest) == 71


IDIOM_POLICY = """
id: idioms
version: "1"
title: Idioms
source: {text: "No calls for harm against groups."}
signals:
  harm: {kind: lexicon, inflect: verb, terms: [kill, {term: die, variants: [death]}]}
  groups: {kind: lexicon, terms: [jews, women]}
  harm_group: {kind: proximity, anchor: harm, target: groups, window: 3}
  idioms: {kind: regex, patterns: ["\\\\b(?P<hit>life(\\\\s+or\\\\s+|-or-)death|killed\\\\s+it)\\\\b"]}
exceptions:
  - {id: idiom, effect: suppress, suppress: harm, when: idioms, window: 0, order: around, explanation: an idiom}
clauses:
  - id: calls
    title: Calls for harm
    when: {signal: harm_group}
    exceptions: [idiom]
"""


@pytest.fixture(scope="module")
def idioms() -> Evaluator:
    compiled = compile_policy(parse_policy(IDIOM_POLICY, "idioms.yaml"), None)
    return Evaluator(PolicyRegistry.from_policies({"idioms": compiled}), None)


def test_inflect_verb_leaves_out_doer_nouns(idioms: Evaluator) -> None:
    # "killers" names people (the news about them), it calls for nothing; the verb forms still count
    assert clause(run(idioms, "the killers of jews were caught"), "calls").verdict is Verdict.NO_VIOLATION
    assert clause(run(idioms, "killing jews"), "calls").verdict is Verdict.VIOLATES
    assert clause(run(idioms, "jews killed"), "calls").verdict is Verdict.VIOLATES


def test_order_around_sets_aside_a_word_inside_the_cue(idioms: Evaluator) -> None:
    # one whitespace token ("life-or-death") or several ("killed it"): the cue takes in the harm word
    for text, word in (("life-or-death care for women", "death"), ("the jews killed it on stage", "killed")):
        c = clause(run(idioms, text), "calls")
        assert c.verdict is Verdict.NO_VIOLATION, text
        assert [x.exception_id for x in c.exceptions] == ["idiom"]
        assert word in {e.text for e in c.exceptions[0].evidence}
    # a cue beside the word, not around it, sets nothing aside
    assert clause(run(idioms, "life or death: kill jews"), "calls").verdict is Verdict.VIOLATES
