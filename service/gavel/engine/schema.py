"""The policy language: what a policy YAML file may say, validated by pydantic.

`gavel schema` prints the JSON Schema of `Policy`. Cross-references (a clause naming a signal,
a proximity signal naming its two sides) are checked in `loader.py` so that their errors can
point at file:line like every other error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gavel.engine.results import Action

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


def first_duplicate(ids: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            return item
        seen.add(item)
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- signals -------------------------------------------------------------------------------


class LexiconTerm(_Strict):
    term: Annotated[str, Field(min_length=1, max_length=200)]
    variants: list[str] = Field(default_factory=list, description="other spellings, irregular forms")
    category: str | None = Field(default=None, description="e.g. the protected category a group term names")
    score: Score | None = Field(default=None, description="defaults to the signal's score")
    inflect: bool | None = Field(default=None, description="generate -s/-ed/-ing/-ion forms; defaults to the signal's")


class LexiconSignal(_Strict):
    kind: Literal["lexicon"]
    description: str = ""
    terms: list[str | LexiconTerm] = Field(min_length=1)
    category: str | None = None
    score: Score = 1.0
    inflect: bool = False

    def expanded_terms(self) -> list[LexiconTerm]:
        return [LexiconTerm(term=t) if isinstance(t, str) else t for t in self.terms]


class RegexSignal(_Strict):
    kind: Literal["regex"]
    description: str = ""
    patterns: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(min_length=1)
    category: str | None = None
    score: Score = 1.0
    on: Literal["normalized", "original"] = Field(
        default="normalized",
        description="normalized: lowercase, accents/leet/homoglyphs folded; original: the post as sent",
    )


class ProximitySignal(_Strict):
    kind: Literal["proximity"]
    description: str = ""
    anchor: str = Field(description="a lexicon or regex signal")
    target: str = Field(description="a lexicon or regex signal")
    window: Annotated[int, Field(ge=0, le=100)] = 6
    order: Literal["any", "anchor_first", "target_first"] = "any"
    score: Score | None = Field(default=None, description="defaults to the lower of the two hits' scores")
    same_sentence: bool = Field(default=True, description="both sides in one sentence")
    blocked_by: list[str] = Field(
        default_factory=list,
        description="lexicon/regex signals whose hit between the two sides, or over either side, breaks the pair "
        "('Eliminating Israel does not mean ... Jewish people'; 'the Jewish state')",
    )


class ModelSignal(_Strict):
    kind: Literal["model"]
    description: str = ""
    model: str
    label: str
    threshold: Score = 0.5
    explain_words: bool = Field(default=True, description="add word-level evidence (occlusion) when it fires")


class ExemplarSignal(_Strict):
    kind: Literal["exemplar"]
    description: str = ""
    model: str = "minilm"
    examples: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    counter_examples: list[str] = Field(default_factory=list)
    threshold: Score = 0.6
    margin: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.05, description="how much closer to an example than to any counter-example"
    )


ContextOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "truthy"]


class ContextSignal(_Strict):
    kind: Literal["context"]
    description: str = ""
    field: str = Field(description="dotted path into the request's context, e.g. author.strikes")
    op: ContextOp = "truthy"
    value: Any = None
    score: Score = 1.0


Signal = Annotated[
    LexiconSignal | RegexSignal | ProximitySignal | ModelSignal | ExemplarSignal | ContextSignal,
    Field(discriminator="kind"),
]


# --- conditions ----------------------------------------------------------------------------


class Condition(_Strict):
    """Exactly one of signal / all_of / any_of / none_of; a bare string in a list means a signal."""

    signal: str | None = None
    all_of: list[Condition] | None = None
    any_of: list[Condition] | None = None
    none_of: list[Condition] | None = None
    weight: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
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
    violates: Score = 0.75
    needs_review: Score = 0.4

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
    dropped, and the clause is scored again without them.
    """

    id: Identifier
    description: str = ""
    when: Condition
    effect: Literal["clear", "downgrade", "cap_review", "suppress"] = Field(
        description="clear: no_violation; downgrade: one step down; cap_review: at most needs_review; "
        "suppress: drop the hits of `suppress` that `when` governs"
    )
    explanation: str
    suppress: str | None = Field(default=None, description="with effect suppress: the signal whose hits it drops")
    window: Annotated[int, Field(ge=0, le=20)] = 3
    order: Literal["before", "after", "any"] = "before"

    @model_validator(mode="after")
    def _suppress_needs_target(self) -> PolicyException:
        if (self.effect == "suppress") != (self.suppress is not None):
            raise ValueError("effect 'suppress' and the field 'suppress' go together")
        if self.effect == "suppress" and self.when.signal is None:
            raise ValueError("a suppress exception's `when` must name one signal")
        return self


class ActionMap(_Strict):
    violates: Action = Action.REMOVE
    needs_review: Action = Action.REVIEW


class Clause(_Strict):
    id: Identifier
    title: str
    description: str = ""
    when: Condition
    thresholds: Thresholds = Thresholds()
    exceptions: list[str] = Field(default_factory=list, description="ids of the policy's exceptions")
    actions: ActionMap | None = Field(default=None, description="overrides the policy's decision map")


class Escalation(_Strict):
    when: Condition
    from_action: Action = Field(alias="from")
    to_action: Action = Field(alias="to")
    reason: str

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DecisionRule(_Strict):
    actions: ActionMap = ActionMap()
    escalate: list[Escalation] = Field(default_factory=list)


class PolicySource(_Strict):
    text: str = Field(min_length=1, description="the rule as written, quoted")
    quoted_in: list[str] = Field(default_factory=list)
    url: str | None = None


class Policy(_Strict):
    id: Identifier
    version: Annotated[str, Field(min_length=1, max_length=64)]
    title: str
    description: str = ""
    source: PolicySource
    protected_categories: list[str] = Field(default_factory=list)
    signals: dict[Identifier, Signal] = Field(min_length=1)
    exceptions: list[PolicyException] = Field(default_factory=list)
    clauses: list[Clause] = Field(min_length=1)
    decision: DecisionRule = DecisionRule()
    # the languages the rules are written for ('*': any); a post in another one is answered per `uncovered`
    languages: list[Annotated[str, Field(pattern=r"^([a-z]{2,3}|\*)$")]] = Field(default=["en"], min_length=1)
    uncovered: Literal["review", "evaluate"] = "review"

    @field_validator("clauses")
    @classmethod
    def _unique_clause_ids(cls, clauses: list[Clause]) -> list[Clause]:
        dup = first_duplicate(c.id for c in clauses)
        if dup is not None:
            raise ValueError(f"duplicate clause id '{dup}'")
        return clauses


Condition.model_rebuild()
