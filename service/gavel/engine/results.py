"""What an evaluation answers: the HTTP contract's shapes, shared by the API, the CLI and the worker."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer


class Verdict(str, Enum):
    VIOLATES = "violates"
    NEEDS_REVIEW = "needs_review"
    NO_VIOLATION = "no_violation"


class Action(str, Enum):
    ALLOW = "allow"
    REVIEW = "review"
    REMOVE = "remove"

    @property
    def severity(self) -> int:
        return _ACTION_SEVERITY[self]


# built once: severity is compared for every clause of every post
_ACTION_SEVERITY = {Action.ALLOW: 0, Action.REVIEW: 1, Action.REMOVE: 2}


Role = Literal["target", "harm", "context"]


class EvidenceDetails(BaseModel):
    """The facts behind one evidence item, as Presidio's AnalysisExplanation: the sentence in
    `Evidence.explanation` is rendered from these fields, never the other way round. Only the
    fields that apply to the signal's kind are set (the others are left out of the answer)."""

    matched: str | None = Field(default=None, description="the lexicon term or the domain that matched")
    pattern_id: str | None = Field(default=None, description="which regex pattern matched, e.g. patterns[2]")
    model: str | None = Field(default=None, description="the model that scored the post")
    label: str | None = Field(default=None, description="the model's label")
    probability: float | None = Field(default=None, description="the label's probability for the post")
    threshold: float | None = Field(default=None, description="the signal's threshold (probability or similarity)")
    contribution: float | None = Field(
        default=None, description="how much the word drove the label (a drop without it, or the evidence head's score)"
    )
    attributed_by: str | None = Field(
        default=None, description="how the word was found: `occlusion` (scored without it) or `evidence_head`"
    )
    similarity: float | None = Field(default=None, description="cosine similarity to the nearest example")
    example: str | None = Field(default=None, description="the nearest example of an exemplar signal")
    counter_similarity: float | None = Field(default=None, description="similarity to the nearest counter-example")
    anchor: str | None = Field(default=None, description="a proximity signal's anchor signal id")
    target: str | None = Field(default=None, description="a proximity signal's target signal id")
    anchor_text: str | None = Field(default=None, description="the words of the anchor's hit")
    target_text: str | None = Field(default=None, description="the words of the target's hit")
    window: int | None = Field(default=None, description="a proximity signal's window, in words")
    exception_id: str | None = Field(default=None, description="the exception this span is a cue of")
    set_aside: bool | None = Field(default=None, description="true: the exception set this hit aside")
    # Rendered into `explanation`, never sent as a field of its own: repeated on every item it
    # made answers ~1.7x larger, and it is on /policies/{id} (issue 12 item 7).
    description: str | None = Field(
        default=None, exclude=True, description="the signal's description (in the explanation, not the answer)"
    )

    @classmethod
    def of(cls, **facts: Any) -> EvidenceDetails:
        """Built by Gavel from its own values, on the hot path: a copy of the empty one with
        `facts` set is several times cheaper than validating or `model_construct`."""
        return _NO_DETAILS.model_copy(update=facts)

    @model_serializer(mode="wrap")
    def _set_fields_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


_NO_DETAILS = EvidenceDetails()


class Evidence(BaseModel):
    """One span of the original post that a signal matched, Presidio-style: where, what, why."""

    start: int = Field(description="code-point offset into the original text, inclusive")
    end: int = Field(description="code-point offset into the original text, exclusive")
    start_utf16: int
    end_utf16: int
    text: str = Field(description="original[start:end]")
    signal: str
    kind: str = Field(description="the signal's kind: lexicon, regex, url, proximity, model, exemplar, ...")
    role: Role = Field(
        description="target: who is attacked; harm: the words that make it a violation; context: an exception's cue"
    )
    score: float
    explanation: str = Field(description="a sentence for a reviewer, rendered from `details`")
    category: str | None = None
    details: EvidenceDetails = Field(default_factory=EvidenceDetails, description="the facts, as fields")


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
