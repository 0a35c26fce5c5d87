"""The policy language: what a policy YAML file may say, validated by pydantic.

`gavel schema` prints the JSON Schema of `Policy`. Cross-references (a clause naming a signal,
a proximity signal naming its two sides) are checked in `loader.py` so that their errors can
point at file:line like every other error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import core_schema

from gavel.engine.kinds.base import Identifier, Score, SignalBase, StrictModel
from gavel.engine.results import Action


def first_duplicate(ids: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            return item
        seen.add(item)
    return None


_Strict = StrictModel


class _RegisteredKinds:
    """Validates a signal as the union of the registered kinds, told apart by `kind`. Built when
    the schema is (re)built, so a kind registered later is accepted after `Policy.model_rebuild`."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        from gavel.engine.kinds import kinds

        members = tuple(k.schema for k in kinds())
        return handler(Annotated[Union[members], Field(discriminator="kind")])  # noqa: UP007


# for type checkers a signal is a SignalBase; pydantic validates it as one of the registered kinds
Signal = Annotated[SignalBase, _RegisteredKinds()]


# --- conditions ----------------------------------------------------------------------------


class Condition(_Strict):
    """Exactly one of signal / all_of / any_of / none_of; a bare string in a list means a signal."""

    signal: str | None = Field(default=None, description="a signal id: its strongest hit's score")
    all_of: list[Condition] | None = Field(default=None, description="the weakest child; 0 unless every child fires")
    any_of: list[Condition] | None = Field(default=None, description="the strongest child")
    none_of: list[Condition] | None = Field(default=None, description="1 when no child fires")
    weight: Annotated[float, Field(ge=0.0, le=1.0)] = Field(default=1.0, description="multiplies the score")
    explain: str | None = Field(default=None, description="said in the answer when this branch fires")

    @model_validator(mode="before")
    @classmethod
    def _bare_signal(cls, value: Any) -> Any:
        return {"signal": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        given = [k for k in ("signal", "all_of", "any_of", "none_of") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a condition needs exactly one of signal, all_of, any_of, none_of"
                + (f" (got {', '.join(given)})" if given else "")
            )
        for key in ("all_of", "any_of", "none_of"):
            children = getattr(self, key)
            if children is not None and not children:
                raise ValueError(f"{key} needs at least one condition")
        return self

    def signals(self) -> set[str]:
        if self.signal is not None:
            return {self.signal}
        out: set[str] = set()
        for children in (self.all_of, self.any_of, self.none_of):
            for child in children or ():
                out |= child.signals()
        return out


# --- clauses, exceptions, decision ---------------------------------------------------------


class Thresholds(_Strict):
    violates: Score = Field(default=0.75, description="a score at or above this violates")
    needs_review: Score = Field(default=0.4, description="a score at or above this (below violates) needs review")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.needs_review > self.violates:
            raise ValueError("needs_review must not be above violates")
        return self


class PolicyException(_Strict):
    """Context that changes a verdict, applied after the signals (Presidio's context step).

    `clear`, `downgrade` and `cap_review` act on the clause's verdict when `when` fires.
    `suppress` acts on spans: hits of the `suppress` signal that have a hit of the `when` signal
    within `window` words (before them, by default: "don't think they should be killed") are
    dropped, and the clause is scored again without them. With `order: around` the cue's own span
    must take in the whole hit (an idiom that holds the word: "life-or-death", "killed it").
    """

    id: Identifier = Field(description="the exception's id, named in clauses' `exceptions`")
    description: str = Field(default="", description="for authors")
    when: Condition = Field(description="the condition that makes it fire (for suppress: the cue signal)")
    effect: Literal["clear", "downgrade", "cap_review", "suppress"] = Field(
        description="clear: no_violation; downgrade: one step down; cap_review: at most needs_review; "
        "suppress: drop the hits of `suppress` that `when` governs"
    )
    explanation: str = Field(description="said in the answer when it changes a verdict")
    suppress: str | None = Field(default=None, description="with effect suppress: the signal whose hits it drops")
    window: Annotated[int, Field(ge=0, le=20)] = Field(default=3, description="suppress: at most this many words apart")
    order: Literal["before", "after", "any", "around"] = Field(
        default="before", description="suppress: where the cue stands (around: its span takes in the hit)"
    )

    @model_validator(mode="after")
    def _suppress_needs_target(self) -> PolicyException:
        if (self.effect == "suppress") != (self.suppress is not None):
            raise ValueError("effect 'suppress' and the field 'suppress' go together")
        if self.effect == "suppress" and self.when.signal is None:
            raise ValueError("a suppress exception's `when` must name one signal")
        return self


class ActionMap(_Strict):
    violates: Action = Field(default=Action.REMOVE, description="the action for a violates verdict")
    needs_review: Action = Field(default=Action.REVIEW, description="the action for a needs_review verdict")


class Clause(_Strict):
    id: Identifier = Field(description="the clause's id in answers")
    title: str = Field(description="a short name for reviewers")
    description: str = Field(default="", description="what the clause covers")
    when: Condition = Field(description="the condition tree that scores the clause")
    thresholds: Thresholds = Field(default=Thresholds(), description="score -> verdict")
    exceptions: list[str] = Field(default_factory=list, description="ids of the policy's exceptions")
    actions: ActionMap | None = Field(default=None, description="overrides the policy's decision map")


class Escalation(_Strict):
    when: Condition = Field(description="the condition that escalates")
    from_action: Action = Field(alias="from", description="the policy action it raises")
    to_action: Action = Field(alias="to", description="the action it raises it to")
    reason: str = Field(description="said in the decision's reasons")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DecisionRule(_Strict):
    actions: ActionMap = Field(default=ActionMap(), description="verdict -> action, for every clause")
    escalate: list[Escalation] = Field(default_factory=list, description="rules that raise the policy's action")


class PolicySource(_Strict):
    text: str = Field(min_length=1, description="the rule as written, quoted")
    quoted_in: list[str] = Field(default_factory=list, description="where the rule is quoted")
    url: str | None = Field(default=None, description="where the rule is published")


class Policy(_Strict):
    id: Identifier = Field(description="the policy's id in requests and answers")
    version: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="named in every answer")
    title: str = Field(description="a short name")
    description: str = Field(default="", description="what the policy covers")
    source: PolicySource = Field(description="the rule this policy encodes")
    protected_categories: list[str] = Field(
        default_factory=list, description="categories whose lexicons name targets (role: target by default)"
    )
    signals: dict[Identifier, Signal] = Field(min_length=1, description="signal id -> signal, by `kind`")
    exceptions: list[PolicyException] = Field(default_factory=list, description="context that changes verdicts")
    clauses: list[Clause] = Field(min_length=1, description="what the policy forbids, each with a verdict")
    decision: DecisionRule = Field(default=DecisionRule(), description="verdicts -> the policy's action")
    languages: list[Annotated[str, Field(pattern=r"^([a-z]{2,3}|\*)$")]] = Field(
        default=["en"], min_length=1, description="the languages the rules are written for ('*': any)"
    )
    uncovered: Literal["review", "evaluate"] = Field(
        default="review",
        description="a post in another language: `review` it, or `evaluate` it anyway (marked uncovered)",
    )

    @field_validator("clauses")
    @classmethod
    def _unique_clause_ids(cls, clauses: list[Clause]) -> list[Clause]:
        dup = first_duplicate(c.id for c in clauses)
        if dup is not None:
            raise ValueError(f"duplicate clause id '{dup}'")
        return clauses


Condition.model_rebuild()
