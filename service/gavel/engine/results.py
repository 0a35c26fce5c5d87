"""What an evaluation answers: the HTTP contract's shapes, shared by the API, the CLI and the worker."""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field


class Verdict(str, Enum):
    VIOLATES = "violates"
    NEEDS_REVIEW = "needs_review"
    NO_VIOLATION = "no_violation"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Verdict.NO_VIOLATION: 0, Verdict.NEEDS_REVIEW: 1, Verdict.VIOLATES: 2}


class Action(str, Enum):
    ALLOW = "allow"
    REVIEW = "review"
    REMOVE = "remove"

    @property
    def severity(self) -> int:
        return _ACTION_SEVERITY[self]


# built once: severity is compared for every clause of every post
_ACTION_SEVERITY = {Action.ALLOW: 0, Action.REVIEW: 1, Action.REMOVE: 2}


SignalKind = Literal["lexicon", "regex", "proximity", "model", "exemplar", "context"]


class Evidence(BaseModel):
    """One span of the original post that a signal matched, Presidio-style: where, what, why."""

    start: int = Field(description="code-point offset into the original text, inclusive")
    end: int = Field(description="code-point offset into the original text, exclusive")
    start_utf16: int
    end_utf16: int
    text: str = Field(description="original[start:end]")
    signal: str
    kind: SignalKind
    score: float
    explanation: str
    category: str | None = None


class ExceptionHit(BaseModel):
    """A policy exception (counter-speech, reporting, ...) that fired and what it did to the verdict."""

    exception_id: str
    effect: Literal["clear", "downgrade", "cap_review", "suppress"]
    explanation: str
    verdict_before: Verdict
    verdict_after: Verdict
    evidence: list[Evidence] = Field(default_factory=list)


class ClauseVerdict(BaseModel):
    clause_id: str
    verdict: Verdict
    score: float
    evidence: list[Evidence] = Field(default_factory=list)
    exceptions: list[ExceptionHit] = Field(default_factory=list)
    explanation: str = ""


class Coverage(BaseModel):
    """Whether a policy's rules are written for the post's language (`languages` in the policy)."""

    covered: bool
    lang: str | None = Field(description="the post's language, ISO 639-1; null when undetermined")
    languages: list[str] = Field(description="the languages the policy covers ('*': all)")
    reason: str


class PolicyResult(BaseModel):
    policy_id: str
    version: str
    digest: str
    clauses: list[ClauseVerdict]
    action: Action = Action.ALLOW
    coverage: Coverage | None = None


class Decision(BaseModel):
    action: Action
    policies_violated: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


class ModelInfo(BaseModel):
    name: str
    version: str


class LanguageInfo(BaseModel):
    """The post's language: from `context.lang`, detected, or undetermined (too short, unsure)."""

    code: str | None = Field(description="ISO 639-1 code; null when undetermined")
    confidence: float
    source: Literal["context", "detected", "undetermined"]
    note: str = ""


class EvaluationResult(BaseModel):
    id: str | None = None
    decision: Decision
    policies: list[PolicyResult]
    models: list[ModelInfo] = Field(default_factory=list)
    timing_ms: float = 0.0
    lang: LanguageInfo | None = None
