"""NDJSON in, NDJSON out: one item per line, one answer per non-blank line, in input order.

Memory stays bounded however long the input: lines are cut as bytes arrive (a line over the
limit is skipped to its newline, never buffered), parsed lines wait in a small queue, and at most
`inflight` batches are evaluated at once. When the consumer (the HTTP client) is slow, the queue
fills and reading stops: backpressure reaches the sender through TCP.

A bad line answers an error object naming its line number, the field and the problem; the stream
goes on. This module knows nothing of HTTP: the route hands it the body's chunks, and
`gavel evaluate -f` hands it the lines of a file (`answers`).
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

from gavel.engine.evaluator import EvalItem
from gavel.engine.results import EvaluationResult
from gavel.errors import GavelError, OverloadedError
from gavel.intake import Evaluates, Limits, check_answer, encode_answer, error_body, validate_item
from gavel.ops.backoff import backoff
from gavel.problems import pydantic_problems

log = logging.getLogger("gavel.ndjson")

_OVERLOAD_ATTEMPTS = 7  # ~3 s of backoff before the lines of a batch answer "overloaded"


class StreamLine(BaseModel):
    """One input line: the fields of a /evaluate/batch item."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1)]
    id: Annotated[str, StringConstraints(max_length=256)] | None = None
    context: dict[str, Any] | None = None


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


@dataclass(frozen=True)
class Answer:
    """What one non-blank line answers: a result, or an error body (`line`, `id`, `error`...)."""

    line: int
    result: EvaluationResult | None
    error: dict[str, Any] | None
    encoded: bytes  # the NDJSON line, newline included


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


def parse_line(line_no: int, raw: bytes | None, limits: Limits) -> ParsedLine | None:
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
        problems = pydantic_problems(exc.errors(), default_field="line")
        return ParsedLine(
            line_no,
            error=LineError(line_no, "invalid_request", "the line does not match the schema", problems, given_id),
        )
    return item_line(line_no, parsed.text, parsed.id, parsed.context, limits)


def item_line(line_no: int, text: str, item_id: str | None, context: Any, limits: Limits) -> ParsedLine:
    """The item of a line whose shape is right, or the limit it breaks (as /evaluate would say)."""
    try:
        return ParsedLine(line_no, item=validate_item(text, item_id, context, limits))
    except GavelError as exc:
        _, body = error_body(exc)
        problems = [(p["field"], p["problem"]) for p in body["problems"]]
        return ParsedLine(line_no, error=LineError(line_no, body["error"], body["message"], problems, item_id))


# --- evaluation -------------------------------------------------------------------------------

_END = object()


class NdjsonEvaluation:
    """Turns parsed lines into answers, batched, in input order; one instance per request/file."""

    def __init__(
        self,
        evaluator: Evaluates,
        policy_ids: Sequence[str] | None,
        limits: Limits,
        on_result: Callable[[EvaluationResult], None] | None = None,
        after_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.policy_ids = policy_ids
        self.limits = limits
        self.on_result = on_result
        self.after_batch = after_batch
        self.lines_read = 0

    async def run(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """A body's chunks in, answer lines out: one joined chunk per batch."""
        async for batch in self.answers(self._parse(chunks)):
            yield b"".join(a.encoded for a in batch)

    async def _parse(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[ParsedLine]:
        async for line_no, raw in split_lines(chunks, self.limits.max_line_bytes):
            self.lines_read = line_no
            parsed = parse_line(line_no, raw, self.limits)
            if parsed is not None:
                yield parsed

    async def answers(self, lines: AsyncIterator[ParsedLine]) -> AsyncIterator[list[Answer]]:
        """The answers of each batch of lines, batches in input order."""
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self.limits.stream_batch * 2)
        failure: list[BaseException] = []

        async def read() -> None:
            try:
                async for parsed in lines:
                    self.lines_read = max(self.lines_read, parsed.line)
                    await queue.put(parsed)
            except Exception as exc:  # the body broke off (client gone); answer what was read
                failure.append(exc)
            finally:
                await queue.put(_END)

        reader = asyncio.create_task(read())
        inflight: deque[asyncio.Task[list[Answer]]] = deque()
        getter: asyncio.Future[object] | None = None
        ended = False
        try:
            while not ended or inflight:
                if not ended and getter is None and len(inflight) < self.limits.stream_inflight:
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
                    while len(batch) < self.limits.stream_batch:
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
                yield [_error_answer(end.line, end.as_json())]
        finally:
            if getter is not None:
                getter.cancel()
            reader.cancel()
            for task in inflight:
                task.cancel()

    async def _answer(self, batch: list[ParsedLine]) -> list[Answer]:
        good = [p for p in batch if p.item is not None]
        answers: dict[int, Answer] = {}
        if good:
            try:
                results = await self._evaluate([p.item for p in good if p.item is not None])
            except Exception:  # some item broke the batch: find which, answer the others
                for p in good:
                    answers[p.line] = await self._one(p)
            else:
                for p, result in zip(good, results, strict=True):
                    answers[p.line] = self._result(p, result)
        out: list[Answer] = []
        for p in batch:
            if p.error is not None:
                out.append(_error_answer(p.line, p.error.as_json()))
            else:
                out.append(answers[p.line])
        return out

    def _result(self, p: ParsedLine, result: EvaluationResult) -> Answer:
        assert p.item is not None
        try:
            check_answer(result, self.limits)
            encoded = encode_answer(result.model_dump_json().encode(), self.limits)
        except GavelError as exc:  # over the work budget: this line answers 413's body
            return _error_answer(p.line, {"line": p.line, "id": p.item.id, **error_body(exc)[1]})
        if self.on_result is not None:
            self.on_result(result)
        return Answer(p.line, result, None, encoded + b"\n")

    async def _evaluate(self, items: list[EvalItem]) -> list[EvaluationResult]:
        # the model queue is full: a stream can wait, unlike a request
        async for attempt in backoff(retry_on=OverloadedError, attempts=_OVERLOAD_ATTEMPTS, maximum=1.0):
            with attempt:
                return await self.evaluator.evaluate_many(items, self.policy_ids)
        raise AssertionError("unreachable: the last attempt raises")

    async def _one(self, p: ParsedLine) -> Answer:
        assert p.item is not None
        try:
            return self._result(p, (await self._evaluate([p.item]))[0])
        except GavelError as exc:
            body = error_body(exc)[1]
        except Exception as exc:
            log.exception("NDJSON line %d could not be evaluated", p.line)
            body = {
                "error": "evaluation_error",
                "message": f"{type(exc).__name__}: {exc}",
                "problems": [],
            }
        return _error_answer(p.line, {"line": p.line, "id": p.item.id, **body})


def _error_answer(line: int, body: dict[str, Any]) -> Answer:
    return Answer(line, None, body, _line(body))


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"
