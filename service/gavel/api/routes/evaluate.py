"""POST /evaluate and /evaluate/batch."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from pydantic import BaseModel

from gavel.api.deps import EvaluatorDep, LimitsDep, MetricsDep, SettingsDep
from gavel.api.schemas import (
    BATCH_RESPONSE_EXAMPLE,
    EVALUATE_RESPONSE_EXAMPLE,
    BatchRequest,
    ErrorBody,
    EvaluateRequest,
)
from gavel.engine.results import EvaluationResult
from gavel.intake import check_answer, check_batch, encode_answer, validate_item
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
    408: {"model": ErrorBody, "description": "the body did not arrive in time (GAVEL_BODY_TIMEOUT_S)"},
    413: {
        "model": ErrorBody,
        "description": "text, batch, body, evidence or response over its limit; `problems[0].field` names it",
    },
    422: {
        "model": ErrorBody,
        "description": "a field is missing, of the wrong type, or names an unknown policy",
    },
    503: {"model": ErrorBody, "description": "model queue full; retry"},
}


class BatchResponse(BaseModel):
    model_config = {"json_schema_extra": {"examples": [BATCH_RESPONSE_EXAMPLE]}}

    results: list[EvaluationResult]


def _json(body: str | bytes) -> Response:
    return Response(body, media_type="application/json")


@router.post(
    "/evaluate",
    response_model=EvaluationResult,
    responses={**_ERRORS, 200: {"content": {"application/json": {"example": EVALUATE_RESPONSE_EXAMPLE}}}},
)
async def evaluate(
    body: EvaluateRequest, evaluator: EvaluatorDep, limits: LimitsDep, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    item = validate_item(body.text, body.id, body.context, limits)
    [result] = await evaluator.evaluate_many([item], body.policies)
    check_answer(result, limits)
    out = encode_answer(result.model_dump_json().encode(), limits)
    metrics.record(result)
    _log_texts(settings, [(body.id, body.text)], [result])
    return _json(out)


@router.post("/evaluate/batch", response_model=BatchResponse, responses=_ERRORS)
async def evaluate_batch(
    body: BatchRequest, evaluator: EvaluatorDep, limits: LimitsDep, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    items = [validate_item(i.text, i.id, i.context, limits, f"items[{n}].") for n, i in enumerate(body.items)]
    check_batch(items, limits)
    results = await evaluator.evaluate_many(items, body.policies)
    for n, r in enumerate(results):
        check_answer(r, limits, f"items[{n}].")
    out = encode_answer(BatchResponse(results=results).model_dump_json().encode(), limits)
    for r in results:
        metrics.record(r)
    _log_texts(settings, [(i.id, i.text) for i in items], results)
    return _json(out)
