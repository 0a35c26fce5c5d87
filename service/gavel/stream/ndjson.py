"""NDJSON in, NDJSON out: one item per line, one answer per non-blank line, in input order.

Memory stays bounded however long the input: lines are cut as bytes arrive (a line over the
limit is skipped to its newline, never buffered), parsed lines wait in a small queue, and at most
`inflight` batches are evaluated at once. When the consumer (the HTTP client) is slow, the queue
fills and reading stops: backpressure reaches the sender through TCP.

A bad line answers an error object naming its line number, the field and the problem; the stream
goes on. This module knows nothing of HTTP: the route hands it the body's chunks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from gavel.engine.evaluator import EvalItem, Evaluator
from gavel.engine.limits import context_problem
from gavel.engine.results import EvaluationResult
from gavel.errors import GavelError, OverloadedError

log = logging.getLogger("gavel.ndjson")

_OVERLOAD_RETRIES = 6  # ~3 s of backoff before the lines of a batch answer "overloaded"


class StreamLine(BaseModel):
    """One input line: the fields of a /evaluate/batch item."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1)]
    id: Annotated[str, StringConstraints(max_length=256)] | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class StreamLimits:
    max_line_bytes: int = 100_000
    max_text_chars: int = 10_000
    max_context_keys: int = 256
    max_context_depth: int = 8
    batch: int = 64
    inflight: int = 2


@dataclass
class LineError:
    line: int
    error: str
    message: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "id": self.id,
            "error": self.error,
            "message": self.message,
            "problems": [{"field": f, "problem": p} for f, p in self.problems],
        }


@dataclass(frozen=True)
class ParsedLine:
    line: int
    item: EvalItem | None = None
    error: LineError | None = None


# Maps an engine error to the body /evaluate would answer (the API passes its own mapping).
ErrorBody = Callable[[GavelError], dict[str, Any]]


def _default_error_body(exc: GavelError) -> dict[str, Any]:
    return {"error": "evaluation_error", "message": str(exc), "problems": []}


# --- lines ------------------------------------------------------------------------------------


async def split_lines(chunks: AsyncIterator[bytes], max_line_bytes: int) -> AsyncIterator[tuple[int, bytes | None]]:
    """(line number, raw bytes) per line, 1-based; None for a line over `max_line_bytes`."""
    buf = bytearray()
    overflow = False
    line_no = 0
    async for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            if not overflow and len(buf) + len(piece) > max_line_bytes:
                overflow = True
                buf.clear()
            if not overflow:
                buf += piece
            if nl < 0:
                break
            line_no += 1
            yield line_no, None if overflow else bytes(buf)
            buf.clear()
            overflow = False
            start = nl + 1
    if buf or overflow:
        yield line_no + 1, None if overflow else bytes(buf)


def _field(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "line"


def parse_line(line_no: int, raw: bytes | None, limits: StreamLimits) -> ParsedLine | None:
    """The item of one line, or its error; None for a blank line (it answers nothing)."""
    if raw is None:
        return ParsedLine(
            line_no,
            error=LineError(
                line_no,
                "too_large",
                f"line {line_no} is over the limit of {limits.max_line_bytes} bytes",
                [("line", f"over {limits.max_line_bytes} bytes")],
            ),
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParsedLine(
            line_no,
            error=LineError(
                line_no,
                "invalid_encoding",
                "the line is not valid UTF-8",
                [("line", f"{exc.reason} at byte {exc.start}")],
            ),
        )
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParsedLine(
            line_no,
            error=LineError(
                line_no,
                "invalid_json",
                "the line is not valid JSON",
                [("line", f"{exc.msg} at column {exc.colno}")],
            ),
        )
    if not isinstance(obj, dict):
        return ParsedLine(
            line_no,
            error=LineError(
                line_no,
                "invalid_request",
                "the line must be a JSON object",
                [("line", f"got {type(obj).__name__}")],
            ),
        )
    given_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    try:
        parsed = StreamLine.model_validate(obj)
    except ValidationError as exc:
        problems = [
            (
                _field(e["loc"]),
                "unknown field"
                if e["type"] == "extra_forbidden"
                else "required field is missing"
                if e["type"] == "missing"
                else str(e["msg"]),
            )
            for e in exc.errors()
        ]
        return ParsedLine(
            line_no,
            error=LineError(line_no, "invalid_request", "the line does not match the schema", problems, given_id),
        )
    if len(parsed.text) > limits.max_text_chars:
        return ParsedLine(
            line_no,
            error=LineError(
                line_no,
                "too_large",
                f"text: {len(parsed.text)} exceeds the limit of {limits.max_text_chars}",
                [("text", f"{len(parsed.text)} is over the limit of {limits.max_text_chars}")],
                parsed.id,
            ),
        )
    context = parsed.context or {}
    problem = context_problem(context, limits.max_context_keys, limits.max_context_depth)
    if problem:
        return ParsedLine(
            line_no, error=LineError(line_no, "too_large", f"context: {problem}", [("context", problem)], parsed.id)
        )
    return ParsedLine(line_no, item=EvalItem(parsed.text, parsed.id, context))


# --- evaluation -------------------------------------------------------------------------------

_END = object()


class NdjsonEvaluation:
    """Turns a body's chunks into answer lines; one instance per request."""

    def __init__(
        self,
        evaluator: Evaluator,
        policy_ids: Sequence[str] | None,
        limits: StreamLimits,
        error_body: ErrorBody = _default_error_body,
        on_result: Callable[[EvaluationResult], None] | None = None,
        after_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.policy_ids = policy_ids
        self.limits = limits
        self.error_body = error_body
        self.on_result = on_result
        self.after_batch = after_batch
        self.lines_read = 0

    async def run(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Answer lines in input order, one joined chunk per batch."""
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self.limits.batch * 2)
        failure: list[BaseException] = []

        async def read() -> None:
            try:
                async for line_no, raw in split_lines(chunks, self.limits.max_line_bytes):
                    self.lines_read = line_no
                    parsed = parse_line(line_no, raw, self.limits)
                    if parsed is not None:
                        await queue.put(parsed)
            except Exception as exc:  # the body broke off (client gone); answer what was read
                failure.append(exc)
            finally:
                await queue.put(_END)

        reader = asyncio.create_task(read())
        inflight: deque[asyncio.Task[bytes]] = deque()
        getter: asyncio.Future[object] | None = None
        ended = False
        try:
            while not ended or inflight:
                if not ended and getter is None and len(inflight) < self.limits.inflight:
                    getter = asyncio.ensure_future(queue.get())
                waiting: set[asyncio.Future[Any]] = set()
                if getter is not None:
                    waiting.add(getter)
                if inflight:
                    waiting.add(inflight[0])
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if inflight and inflight[0].done():
                    yield inflight.popleft().result()  # the oldest first: answers keep input order
                    continue
                if getter is None or not getter.done():
                    continue
                first, getter = getter.result(), None
                batch: list[ParsedLine] = []
                if first is _END:
                    ended = True
                else:
                    batch.append(first)  # type: ignore[arg-type]
                    while len(batch) < self.limits.batch:
                        try:
                            more = queue.get_nowait()
                        except asyncio.QueueEmpty:
                            break
                        if more is _END:
                            ended = True
                            break
                        batch.append(more)  # type: ignore[arg-type]
                    if self.after_batch is not None:
                        await self.after_batch()
                    inflight.append(asyncio.create_task(self._answer(batch)))
            await reader
            if failure:  # if the client is gone this line goes nowhere, which is fine
                end = LineError(
                    self.lines_read + 1,
                    "stream_error",
                    f"reading the body failed: {failure[0]}",
                    [("body", type(failure[0]).__name__)],
                )
                yield _line(end.as_json())
        finally:
            if getter is not None:
                getter.cancel()
            reader.cancel()
            for task in inflight:
                task.cancel()

    async def _answer(self, batch: list[ParsedLine]) -> bytes:
        good = [p for p in batch if p.item is not None]
        answers: dict[int, dict[str, Any] | EvaluationResult] = {}
        if good:
            try:
                results = await self._evaluate([p.item for p in good if p.item is not None])
            except Exception:  # some item broke the batch: find which, answer the others
                for p in good:
                    answers[p.line] = await self._one(p)
            else:
                for p, result in zip(good, results, strict=True):
                    answers[p.line] = result
        out: list[bytes] = []
        for p in batch:
            if p.error is not None:
                out.append(_line(p.error.as_json()))
                continue
            answer = answers[p.line]
            if isinstance(answer, EvaluationResult):
                if self.on_result is not None:
                    self.on_result(answer)
                out.append(answer.model_dump_json().encode() + b"\n")
            else:
                out.append(_line(answer))
        return b"".join(out)

    async def _evaluate(self, items: list[EvalItem]) -> list[EvaluationResult]:
        delay = 0.05
        for attempt in range(_OVERLOAD_RETRIES + 1):
            try:
                return await self.evaluator.evaluate_many(items, self.policy_ids)
            except OverloadedError:
                if attempt == _OVERLOAD_RETRIES:
                    raise
                await asyncio.sleep(delay)  # the model queue is full: a stream can wait, unlike a request
                delay *= 2
        raise AssertionError("unreachable")

    async def _one(self, p: ParsedLine) -> dict[str, Any] | EvaluationResult:
        assert p.item is not None
        try:
            return (await self._evaluate([p.item]))[0]
        except GavelError as exc:
            body = self.error_body(exc)
        except Exception as exc:
            log.exception("NDJSON line %d could not be evaluated", p.line)
            body = {
                "error": "evaluation_error",
                "message": f"{type(exc).__name__}: {exc}",
                "problems": [],
            }
        return {"line": p.line, "id": p.item.id, **body}


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"
