"""`gavel init POLICY_ID`: a small, complete starter policy and its replay cases.

The same example is walked through in docs/policy-tutorial.md (a test keeps the two equal and
runs `gavel validate` and `gavel replay` on what this writes), so a new author starts from a
policy that passes and changes one thing at a time.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from gavel.errors import GavelError

_POLICY_ID = re.compile(r"^[a-z][a-z0-9_]*$")

STARTER_POLICY = Template("""\
# $policy_id: a starter policy written by `gavel init`. Walk-through: docs/policy-tutorial.md.
id: $policy_id
version: "1"
title: Threats against a person
source:
  text: "You may not threaten to hurt another person."
languages: [en]        # the languages these rules are written for
uncovered: review      # a post in another language: at least review
signals:
  harm_verbs:
    kind: lexicon
    description: verbs of violence
    inflect: true      # kill -> kills, killed, killing
    terms: [kill, hurt, stab, shoot, beat up, strangle]
  second_person:
    kind: lexicon
    description: the person addressed
    terms: [you, your family, your kids]
  first_person_promise:
    kind: regex
    description: the speaker says they will do it
    patterns: ["\\\\b(i|we) ?('ll|'m going to|'re going to| will| am going to| are going to)\\\\b"]
  harm_to_you:
    kind: proximity
    anchor: harm_verbs
    target: second_person
    window: 4
    order: anchor_first
  negation:
    kind: lexicon
    terms: [never, not, "don't", "won't", nobody]
  reporting_cues:
    kind: lexicon
    terms: [police said, was charged, according to, reportedly]
exceptions:
  - id: negated
    effect: suppress
    suppress: harm_verbs
    when: negation
    explanation: the violence is negated ("I would never hurt you")
  - id: news_report
    effect: downgrade
    when: reporting_cues
    explanation: the threat is reported, not made
clauses:
  - id: threat
    title: Threat of violence against a person
    when:
      any_of:
        - all_of: [harm_to_you, first_person_promise]
          explain: the speaker promises to hurt the person addressed
        - signal: harm_to_you
          weight: 0.5
          explain: "violence aimed at the person addressed, with no promise: a human should judge"
    exceptions: [negated, news_report]
""")

STARTER_CASES = Template("""\
# Replay cases for $policy_id: `gavel replay policies/$policy_id.cases.yaml`.
# Every clause not named under `expect` must answer no_violation.
policy: $policy_id
description: What the starter threat policy must catch and must leave alone.
cases:
  - id: promise_to_kill
    text: "I will kill you."
    expect: {threat: violates}
    evidence: {threat: [kill, you]}
  - id: promise_with_contraction
    text: "Watch your back, I'm going to hurt you"
    expect: {threat: violates}
  - id: wish_without_promise
    text: "Someone should stab you"
    expect: {threat: needs_review}
  - id: negated
    text: "I would never hurt you, you know that"
  - id: news_report
    text: "The police said the man shouted: I will kill you"
    expect: {threat: needs_review}
  - id: figure_of_speech
    text: "This heat is killing me"
""")


class StarterExistsError(GavelError):
    """`gavel init` never overwrites a policy or a case file."""


def starter_files(policy_id: str) -> tuple[str, str]:
    """The starter policy and its case file for `policy_id`."""
    if not _POLICY_ID.match(policy_id) or len(policy_id) > 64:
        raise ValueError(f"policy id '{policy_id}' must be lowercase letters, digits and _, starting with a letter")
    return STARTER_POLICY.substitute(policy_id=policy_id), STARTER_CASES.substitute(policy_id=policy_id)


def write_starter(policy_dir: Path, policy_id: str) -> list[Path]:
    """Write POLICY_ID.yaml and POLICY_ID.cases.yaml into `policy_dir`; refuse if either exists."""
    policy_text, cases_text = starter_files(policy_id)
    targets = [policy_dir / f"{policy_id}.yaml", policy_dir / f"{policy_id}.cases.yaml"]
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise StarterExistsError(f"refusing to overwrite {', '.join(existing)}")
    policy_dir.mkdir(parents=True, exist_ok=True)
    for path, text in zip(targets, (policy_text, cases_text), strict=True):
        with path.open("x", encoding="utf-8") as fh:  # "x": fail rather than overwrite, even in a race
            fh.write(text)
    return targets
