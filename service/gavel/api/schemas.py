"""Request bodies of the HTTP API (responses are `gavel.engine.results`), with the examples /docs shows."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PolicyId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ItemId = Annotated[str, StringConstraints(max_length=256)]

_EVIDENCE = {
    "start": 0,
    "end": 4,
    "start_utf16": 0,
    "end_utf16": 4,
    "text": "Jews",
    "signal": "dehumanize_group",
    "kind": "proximity",
    "score": 1.0,
    "explanation": "'vermin' (dehumanizing_terms) within 5 words of 'Jews' (group_mentions)",
    "category": "religious_affiliation",
}
EVALUATE_RESPONSE_EXAMPLE: dict[str, Any] = {
    "id": "post-1",
    "decision": {
        "action": "remove",
        "policies_violated": ["hateful_conduct"],
        "reasons": ["hateful_conduct.dehumanization: violates"],
    },
    "policies": [
        {
            "policy_id": "hateful_conduct",
            "version": "2020-05",
            "digest": "sha256:e4898c96142c8cb15d3b2ffdb564431b4ec0056b747bacb1ff1f79328dfba525",
            "clauses": [
                {
                    "clause_id": "dehumanization",
                    "verdict": "violates",
                    "score": 1.0,
                    "evidence": [_EVIDENCE],
                    "exceptions": [],
                    "explanation": "score 1.00 >= 0.75; a protected group is likened to animals, vermin or disease",
                }
            ],
            "action": "remove",
        }
    ],
    "models": [],
    "timing_ms": 0.842,
}
BATCH_RESPONSE_EXAMPLE: dict[str, Any] = {"results": [EVALUATE_RESPONSE_EXAMPLE]}


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "Jews are vermin",
                    "id": "post-1",
                    "policies": ["hateful_conduct"],
                    "context": {"author_id": "u-42", "lang": "en"},
                }
            ]
        },
    )

    text: Annotated[str, Field(min_length=1, description="the post, as sent by its author")]
    id: ItemId | None = None
    policies: Annotated[list[PolicyId], Field(max_length=64)] | None = Field(
        default=None, description="policy ids; omitted means every loaded policy"
    )
    context: dict[str, Any] | None = Field(default=None, description="e.g. author_id, lang, author history")


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1)]
    id: ItemId | None = None
    context: dict[str, Any] | None = None


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"id": "a", "text": "hello there"},
                        {"id": "b", "text": "Muslims are rats", "context": {"author_id": "u-7"}},
                    ],
                    "policies": ["hateful_conduct"],
                }
            ]
        },
    )

    items: Annotated[list[BatchItem], Field(min_length=1)]
    policies: Annotated[list[PolicyId], Field(max_length=64)] | None = None


class FieldProblem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": "too_large",
                    "message": "items: 1200000 characters of text in all is over the limit of 1000000",
                    "problems": [
                        {"field": "items", "problem": "1200000 characters of text in all is over the limit of 1000000"}
                    ],
                }
            ]
        }
    )

    error: str
    message: str
    problems: list[FieldProblem] = Field(default_factory=list)
