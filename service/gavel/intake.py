"""The one way in: limits, item validation, the work budget and error bodies, shared by
POST /evaluate, /evaluate/batch, /evaluate/stream, the Redis worker and `gavel evaluate`.

Nothing here knows HTTP: an error is a `GavelError` and `error_body` turns it into the JSON body
(and status) that every entry point answers with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gavel.engine.evaluator import EvalItem
from gavel.engine.limits import context_problem
from gavel.engine.results import EvaluationResult
from gavel.errors import (
    EvaluationError,
    GavelError,
    InputTooLargeError,
    InvalidInputError,
    ModelUnavailableError,
    OverloadedError,
    PolicyError,
    PolicyValidationError,
    UnknownPolicyError,
)
from gavel.settings import Settings


class Evaluates(Protocol):
    """What an entry point calls: the engine's `Evaluator`, or it wrapped in the stateful stages."""

    def select(self, policy_ids: Sequence[str] | None) -> Sequence[object]: ...


    async def evaluate_many(
        self, items: Sequence[EvalItem], policy_ids: Sequence[str] | None = None
    ) -> list[EvaluationResult]: ...


@dataclass(frozen=True)
class Limits:
    """Every request limit and work budget, built once from settings."""

    max_text_chars: int = 10_000
    max_id_chars: int = 256
    max_author_id_bytes: int = 256
    max_batch_items: int = 256
    max_batch_chars: int = 1_000_000
    max_context_keys: int = 256
    max_context_depth: int = 8
    max_evidence_per_clause: int = 5_000
    max_response_bytes: int = 16_000_000
    max_line_bytes: int = 100_000
    stream_batch: int = 64
    stream_inflight: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_text_chars=settings.max_text_chars,
            max_id_chars=settings.max_id_chars,
            max_author_id_bytes=settings.max_author_id_bytes,
            max_batch_items=settings.max_batch_items,
            max_batch_chars=settings.max_batch_chars,
            max_context_keys=settings.max_context_keys,
            max_context_depth=settings.max_context_depth,
            max_evidence_per_clause=settings.max_evidence_per_clause,
            max_response_bytes=settings.max_response_bytes,
            max_line_bytes=settings.max_stream_line_bytes,
            stream_batch=settings.stream_batch,
            stream_inflight=settings.stream_inflight,
        )


def validate_item(text: str, item_id: str | None, context: Any, limits: Limits, where: str = "") -> EvalItem:
    """The item, or the first limit it breaks as a `GavelError` naming the field (`where` is its
    prefix, e.g. `items[3].`). The shape (types, unknown fields) is checked before, by pydantic."""
    if not text:
        raise InvalidInputError(f"{where}text", "must not be empty")
    if len(text) > limits.max_text_chars:
        raise InputTooLargeError(f"{where}text", len(text), limits.max_text_chars, "characters")
    if item_id is not None and len(item_id) > limits.max_id_chars:
        raise InvalidInputError(f"{where}id", f"longer than {limits.max_id_chars} characters")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise InvalidInputError(f"{where}context", f"must be a JSON object, not {type(context).__name__}")
    problem = context_problem(context, limits.max_context_keys, limits.max_context_depth)
    if problem:
        raise InvalidInputError(f"{where}context", problem)
    author = context.get("author_id")
    # the author history keys on it: an unbounded id would be held in memory (or Redis) for weeks
    if isinstance(author, str) and len(author.encode("utf-8", "surrogatepass")) > limits.max_author_id_bytes:
        raise InvalidInputError(f"{where}context.author_id", f"longer than {limits.max_author_id_bytes} bytes")
    return EvalItem(text, item_id, dict(context))


def check_batch(items: Sequence[EvalItem], limits: Limits, field: str = "items") -> None:
    """The batch's share of the work budget: how many items, how many characters in all."""
    if len(items) > limits.max_batch_items:
        raise InputTooLargeError(field, len(items), limits.max_batch_items, "items")
    total = sum(len(i.text) for i in items)
    if total > limits.max_batch_chars:
        raise InputTooLargeError(field, total, limits.max_batch_chars, "characters of text in all")


def check_answer(result: EvaluationResult, limits: Limits, where: str = "") -> None:
    """The answer's share of the budget: evidence items per clause (a post that matches thousands
    of times costs CPU and megabytes to explain). The field named is the input that caused it."""
    for policy in result.policies:
        for clause in policy.clauses:
            if len(clause.evidence) > limits.max_evidence_per_clause:
                raise InputTooLargeError(
                    f"{where}text",
                    len(clause.evidence),
                    limits.max_evidence_per_clause,
                    f"evidence items for {policy.policy_id}.{clause.clause_id}",
                )


def encode_answer(body: bytes, limits: Limits) -> bytes:
    """A serialized answer, refused past `max_response_bytes`."""
    if len(body) > limits.max_response_bytes:
        raise InputTooLargeError("response", len(body), limits.max_response_bytes, "bytes")
    return body


def error_body(exc: GavelError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of an error: one status per branch of the exception tree."""
    status, error, problems = _classify(exc)
    if isinstance(exc, PolicyError):
        message = "policy problems"
    else:
        message = str(exc) or ("model queue is full; retry later" if isinstance(exc, OverloadedError) else error)
    body: list[dict[str, Any]] = [{"field": f, "problem": p} for f, p in problems]
    if isinstance(exc, PolicyValidationError):
        # a policy problem keeps its location as fields: file, line, col, path, message
        body = [{"field": "policy", "problem": str(p), **p.as_dict()} for p in exc.problems]
    return status, {"error": error, "message": message, "problems": body}


def _classify(exc: GavelError) -> tuple[int, str, list[tuple[str, str]]]:
    if isinstance(exc, UnknownPolicyError):
        return 422, "unknown_policy", [("policies", f"unknown policy id '{p}'") for p in exc.policy_ids]
    if isinstance(exc, InputTooLargeError):
        return 413, "too_large", [(exc.field, exc.problem)]
    if isinstance(exc, InvalidInputError):
        return 422, "invalid_request", [(exc.field, exc.problem)]
    if isinstance(exc, OverloadedError):
        return 503, "overloaded", []
    if isinstance(exc, ModelUnavailableError):
        return 503, "model_unavailable", [("model", exc.reason)]
    if isinstance(exc, PolicyError):
        problems = getattr(exc, "problems", [str(exc)])
        return 422, "policy_error", [("policy", str(p)) for p in problems]
    if isinstance(exc, EvaluationError):
        return 422, "evaluation_error", []
    return 400, "bad_request", []
