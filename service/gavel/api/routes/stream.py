"""POST /evaluate/stream: NDJSON in, NDJSON out, answers streamed in input order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gavel.api.deps import EvaluatorDep, MetricsDep, RuntimeDep
from gavel.api.schemas import ErrorBody
from gavel.stream.ndjson import NdjsonEvaluation

router = APIRouter(tags=["evaluate"])


class NdjsonResponse(StreamingResponse):
    media_type = "application/x-ndjson"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's StreamingResponse may listen on `receive` for a disconnect, which would eat
        # the request body we are still reading: a stream answers while it reads, so never do that.
        try:
            await self.stream_response(send)
        except OSError as exc:
            raise ClientDisconnect() from exc


_DOC = """One JSON object per line, the fields of a /evaluate/batch item:
`{"text": "...", "id": "...", "context": {...}}`. Answers one line per non-blank input line,
in input order, as soon as it is ready: the /evaluate answer, or for a bad line
`{"line": n, "id", "error", "message", "problems": [{"field", "problem"}]}`;
the stream goes on after a bad line. Lines are limited to `max_stream_line_bytes`; the body as a
whole is not, but a body that stops arriving for `stream_idle_timeout_s` ends the stream (a
`stream_error` line). Send and read at the same time (the server stops reading when its answers
are not read)."""


@router.post(
    "/evaluate/stream",
    response_class=NdjsonResponse,
    description=_DOC,
    responses={
        200: {
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            "description": "one answer or error object per input line",
        },
        422: {"model": ErrorBody, "description": "unknown policy id (before the stream starts)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
async def evaluate_stream(
    request: Request,
    runtime: RuntimeDep,
    evaluator: EvaluatorDep,
    metrics: MetricsDep,
    policies: Annotated[
        list[str] | None,
        Query(description="policy ids, repeated or comma-separated; omitted means every loaded policy"),
    ] = None,
) -> NdjsonResponse:
    ids = [p.strip() for value in policies or [] for p in value.split(",") if p.strip()] or None
    evaluator.select(ids)  # an unknown policy answers 422 before any line is read
    recorder = runtime.stages.recorder if runtime.stages is not None else None
    run = NdjsonEvaluation(
        evaluator,
        ids,
        runtime.limits,
        on_result=lambda r: metrics.record(r, source="stream"),
        # a bulk stream goes at the verdict store's pace rather than have its records dropped
        after_batch=recorder.room if recorder is not None else None,
    )
    return NdjsonResponse(run.run(request.stream()), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
