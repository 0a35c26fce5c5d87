"""Request bodies of the HTTP API (responses are `gavel.engine.results`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PolicyId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ItemId = Annotated[str, StringConstraints(max_length=256)]


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[BatchItem], Field(min_length=1)]
    policies: Annotated[list[PolicyId], Field(max_length=64)] | None = None


class FieldProblem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    error: str
    message: str
    problems: list[FieldProblem] = Field(default_factory=list)
