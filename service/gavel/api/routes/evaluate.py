"""POST /evaluate and /evaluate/batch."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from gavel.api.deps import EvaluatorDep, MetricsDep, SettingsDep
from gavel.api.schemas import BatchRequest, ErrorBody, EvaluateRequest
from gavel.engine.evaluator import EvalItem
from gavel.engine.limits import context_problem
from gavel.engine.results import EvaluationResult
from gavel.errors import InputTooLargeError, InvalidInputError
from gavel.settings import Settings

router = APIRouter(tags=["evaluate"])
log = logging.getLogger("gavel.evaluate")


def _log_texts(settings: Settings, items: list[tuple[str | None, str]], results: list[EvaluationResult]) -> None:
    """Post text reaches the logs only when GAVEL_LOG_TEXT asks for it (debugging a policy, say)."""
    if settings.log_text:
        for (item_id, text), result in zip(items, results, strict=True):
            log.info("evaluated", extra={"id": item_id, "text": text, "action": result.decision.action.value})


_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "malformed JSON or encoding"},
    413: {"model": ErrorBody, "description": "text, batch or body over its limit"},
    422: {
        "model": ErrorBody,
        "description": "a field is missing, of the wrong type, or names an unknown policy",
    },
    503: {"model": ErrorBody, "description": "model queue full; retry"},
}


class BatchResponse(BaseModel):
    results: list[EvaluationResult]


def check_context(context: dict[str, Any] | None, field: str, settings: Settings) -> None:
    problem = context_problem(context, settings.max_context_keys, settings.max_context_depth)
    if problem:
        raise InvalidInputError(field, problem)


@router.post("/evaluate", response_model=EvaluationResult, responses=_ERRORS)
async def evaluate(
    body: EvaluateRequest, evaluator: EvaluatorDep, settings: SettingsDep, metrics: MetricsDep
) -> EvaluationResult:
    if len(body.text) > settings.max_text_chars:
        raise InputTooLargeError("text", len(body.text), settings.max_text_chars)
    check_context(body.context, "context", settings)
    result = await evaluator.evaluate(body.text, body.policies, body.context, body.id)
    metrics.record(result)
    _log_texts(settings, [(body.id, body.text)], [result])
    return result


@router.post("/evaluate/batch", response_model=BatchResponse, responses=_ERRORS)
async def evaluate_batch(
    body: BatchRequest, evaluator: EvaluatorDep, settings: SettingsDep, metrics: MetricsDep
) -> BatchResponse:
    if len(body.items) > settings.max_batch_items:
        raise InputTooLargeError("items", len(body.items), settings.max_batch_items)
    for i, item in enumerate(body.items):
        if len(item.text) > settings.max_text_chars:
            raise InputTooLargeError(f"items[{i}].text", len(item.text), settings.max_text_chars)
        check_context(item.context, f"items[{i}].context", settings)
    items = [EvalItem(i.text, i.id, dict(i.context or {})) for i in body.items]
    results = await evaluator.evaluate_many(items, body.policies)
    for r in results:
        metrics.record(r)
    _log_texts(settings, [(i.id, i.text) for i in items], results)
    return BatchResponse(results=results)
