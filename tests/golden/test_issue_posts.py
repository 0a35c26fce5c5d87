"""The posts quoted in the hate-speech and precision issues, answered as the issues state: each
hateful post by the right clause with the group as `target` evidence and the hateful words as
`harm` evidence; each must-clear post cleared; none of the everyday posts removed. The runtime is
the rules plus the shipped hate model (`rules_runtime`)."""

from __future__ import annotations

import asyncio

import pytest

from gavel.engine.results import EvaluationResult
from gavel.runtime import Runtime

POLICY = "hateful_conduct"

# (post, clause that must answer violates, a target evidence word, a harm evidence word)
CAUGHT: list[tuple[str, str, str, str]] = [
    ("I have nothing but disgust for Sikhs.", "derogation", "Sikhs", "disgust"),
    ("Refugees should be kept in kennels, not houses.", "dehumanization", "Refugees", "kennels"),
    ("I'm going to slit the throat of every Roma I meet.", "violent_threats", "Roma", "slit"),
    ("Somebody ought to burn every synagogue with them inside.", "calls_for_harm", "synagogue", "burn"),
    ("Fuck every single Mexican.", "derogation", "Mexican", "Fuck"),
    ("Why are Arabs always so dishonest?", "slurs_and_tropes", "Arabs", "dishonest"),
    ("Honestly I think gay men are a lower form of life.", "derogation", "gay men", "lower form of life"),
    ("Disabled people's lives have no value.", "derogation", "Disabled people", "no value"),
    ("Look at those Pakistanis. They should all be deported or worse.", "calls_for_harm", "Pakistanis", "deported"),
    ("kil all the muzlims", "calls_for_harm", "muzlims", "kil"),
    ("Jooos are rats", "dehumanization", "Jooos", "rats"),
    ("deportall immigrants", "calls_for_harm", "immigrants", "deportall"),
    ("i h8 women", "derogation", "women", "h8"),
]
CLEARED = [
    "Saying Roma are thieves is plain racism and I won't stand for it.",
    "She went outside for a fag.",
    "As a queer woman I love my queer friends.",
    "Muslims are my neighbours and friends.",
]
NOT_REMOVED = [  # issue 14
    "Pros and cons of the new transit plan",
    "He is a con artist.",
    "Stop killing Black people, police!",
    "Orange Day: eliminating violence against women starts with us.",
    "I will oppose extrajudicial killing and the abuse of women.",
    "Holiday gifts for the nasty women in your life",
]


def _answer(runtime: Runtime, text: str) -> EvaluationResult:
    return asyncio.run(runtime.evaluator.evaluate(text))


@pytest.mark.parametrize(("text", "clause", "target", "harm"), CAUGHT)
def test_issue_10_post_caught_with_roles(rules_runtime: Runtime, text: str, clause: str, target: str, harm: str) -> None:
    result = _answer(rules_runtime, text)
    (policy,) = [p for p in result.policies if p.policy_id == POLICY]
    (answer,) = [c for c in policy.clauses if c.clause_id == clause]
    assert answer.verdict == "violates", (text, answer.explanation)
    roles = {(e.text, e.role) for e in answer.evidence}
    assert (target, "target") in roles, roles
    assert (harm, "harm") in roles, roles
    assert result.decision.action == "remove"


@pytest.mark.parametrize("text", CLEARED)
def test_issue_10_post_cleared(rules_runtime: Runtime, text: str) -> None:
    result = _answer(rules_runtime, text)
    (policy,) = [p for p in result.policies if p.policy_id == POLICY]
    assert [c.clause_id for c in policy.clauses if c.verdict != "no_violation"] == []


@pytest.mark.parametrize("text", NOT_REMOVED)
def test_issue_14_post_not_removed(rules_runtime: Runtime, text: str) -> None:
    assert _answer(rules_runtime, text).decision.action != "remove"


def test_state_rule_sees_the_next_sentence(rules_runtime: Runtime) -> None:
    text = "The Zionist regime is a cancerous growth. It will be uprooted and destroyed."
    (policy,) = [p for p in _answer(rules_runtime, text).policies if p.policy_id == POLICY]
    verdicts = {c.clause_id: c.verdict for c in policy.clauses}
    assert verdicts["dehumanization"] == "needs_review"
    assert "violates" not in verdicts.values()
