"""Scoring a `when` tree, a pure function of the signals' values.

A `signal` node scores its strongest hit (0 if none); `all_of` the weakest child (0 unless every
child fires); `any_of` the strongest; `none_of` 1 if no child fires; every node multiplies by its
`weight`, and a firing node with `explain` adds that sentence to the notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gavel.engine.post import SignalValue
from gavel.engine.results import Evidence
from gavel.engine.schema import Condition

_ZERO = SignalValue(0.0)


@dataclass
class Outcome:
    score: float
    evidence: list[Evidence]
    notes: list[str]
    unavailable: list[str]


def score_condition(cond: Condition, signals: Mapping[str, SignalValue]) -> Outcome:
    if cond.signal is not None:
        value = signals.get(cond.signal, _ZERO)
        if value.score <= 0 and not value.unavailable:
            return Outcome(0.0, [], [], [])  # the common case: this signal did not fire
        unavailable = [value.unavailable] if value.unavailable else []
        notes = [value.note] if value.note and value.score > 0 else []
        outcome = Outcome(value.score, list(value.evidence), notes, unavailable)
    elif cond.all_of is not None:
        parts = [score_condition(c, signals) for c in cond.all_of]
        unavailable = [u for p in parts for u in p.unavailable]
        if all(p.score > 0 for p in parts):
            outcome = Outcome(
                min(p.score for p in parts),
                [e for p in parts for e in p.evidence],
                [n for p in parts for n in p.notes],
                unavailable,
            )
        else:
            outcome = Outcome(0.0, [], [], unavailable)
    elif cond.any_of is not None:
        parts = [score_condition(c, signals) for c in cond.any_of]
        fired = [p for p in parts if p.score > 0]
        outcome = Outcome(
            max((p.score for p in fired), default=0.0),
            [e for p in fired for e in p.evidence],
            [n for p in fired for n in p.notes],
            [u for p in parts for u in p.unavailable],
        )
    else:
        assert cond.none_of is not None
        parts = [score_condition(c, signals) for c in cond.none_of]
        any_fired = any(p.score > 0 for p in parts)
        outcome = Outcome(0.0 if any_fired else 1.0, [], [], [u for p in parts for u in p.unavailable])
    if outcome.score > 0:
        outcome.score *= cond.weight
        if cond.explain:
            outcome.notes.insert(0, cond.explain)
    return outcome
