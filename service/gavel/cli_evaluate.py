"""`gavel evaluate`: posts from an argument, stdin or a file (NDJSON, CSV, or a post per line),
through the same batched path as POST /evaluate/stream (`NdjsonEvaluation.answers`).

Answers go to stdout, one per line; a bad input line is one error line on stderr naming its line
number, and the run goes on; a summary line on stderr ends it. On a terminal a progress bar
(tqdm, on stderr) shows how far a file has got; piped, there is none.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import typer

from gavel.engine.results import EvaluationResult
from gavel.intake import Limits
from gavel.runtime import open_runtime
from gavel.settings import Settings
from gavel.stream.ndjson import Answer, LineError, NdjsonEvaluation, ParsedLine, item_line, parse_line, split_lines

Human = Callable[[EvaluationResult, str], str]
_CHUNK = 1 << 16
_NDJSON = (".ndjson", ".jsonl", ".json")


async def run_evaluate(
    settings: Settings,
    text: str | None,
    file: Path | None,
    policy_ids: Sequence[str] | None,
    human: bool,
    render: Human,
) -> int:
    """Evaluate every post; return how many input lines failed."""
    async with open_runtime(settings, source="cli", paced=True) as runtime:
        runtime.pipeline.select(policy_ids)  # an unknown policy fails before any line is read
        limits = runtime.limits
        lines = _lines(text, file, limits)
        texts: dict[int, str] = {}  # line -> text, for --human only

        async def remembered() -> AsyncIterator[ParsedLine]:
            async for parsed in lines:
                if human and parsed.item is not None:
                    texts[parsed.line] = parsed.item.text
                yield parsed

        run = NdjsonEvaluation(runtime.pipeline, policy_ids, limits)
        bar = _progress(file)
        evaluated = failed = 0
        try:
            async for batch in run.answers(remembered()):
                for answer in batch:
                    if answer.result is not None:
                        evaluated += 1
                        out = render(answer.result, texts.pop(answer.line, "")) if human else answer.encoded.decode()
                        typer.echo(out.rstrip("\n"))
                    else:
                        failed += 1
                        _write_error(answer, bar)
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()
        if file is not None or failed:
            print(f"gavel: {evaluated} evaluated, {failed} failed", file=sys.stderr)
        return failed


def _write_error(answer: Answer, bar: Any) -> None:
    body = answer.error or {}
    where = "; ".join(f"{p['field']}: {p['problem']}" for p in body.get("problems", []))
    line = f"line {answer.line}: {body.get('error')}: {body.get('message')}" + (f" ({where})" if where else "")
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def _progress(file: Path | None) -> Any:
    """A tqdm bar on stderr when stderr is a terminal and a file is read; None otherwise."""
    if file is None or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    with file.open("rb") as fh:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(_CHUNK), b""))
    return tqdm(total=total, unit="post", file=sys.stderr, dynamic_ncols=True)


async def _lines(text: str | None, file: Path | None, limits: Limits) -> AsyncIterator[ParsedLine]:
    if file is not None:
        if file.suffix.lower() in _NDJSON:
            async for parsed in _ndjson(file, limits):
                yield parsed
            return
        with file.open(encoding="utf-8", errors="replace", newline="") as fh:
            rows = _csv(fh, limits) if file.suffix.lower() == ".csv" else _plain(fh, limits)
            for parsed in rows:
                yield parsed
        return
    if text is not None and text != "-":
        yield item_line(1, text, None, None, limits)
        return
    for parsed in _plain(sys.stdin, limits):
        yield parsed


async def _ndjson(file: Path, limits: Limits) -> AsyncIterator[ParsedLine]:
    async def chunks() -> AsyncIterator[bytes]:
        with file.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk

    async for line_no, raw in split_lines(chunks(), limits.max_line_bytes):
        parsed = parse_line(line_no, raw, limits)
        if parsed is None:
            continue
        if parsed.item is not None and parsed.item.id is None:
            parsed.item.id = str(line_no)  # an answer always says which line it is for
        yield parsed


def _csv(fh: TextIO, limits: Limits) -> Iterator[ParsedLine]:
    reader = csv.DictReader(fh)
    if reader.fieldnames is None or "text" not in reader.fieldnames:
        yield ParsedLine(
            1,
            error=LineError(
                1, "invalid_request", "the CSV has no 'text' column", [("text", "required column is missing")]
            ),
        )
        return
    for n, row in enumerate(reader, start=1):
        line = reader.line_num  # where the row ends, counting the header: what an editor shows
        text = row.get("text")
        if not text:
            yield ParsedLine(
                line,
                error=LineError(
                    line,
                    "invalid_request",
                    "the row has no text",
                    [("text", "required field is missing")],
                    row.get("id"),
                ),
            )
            continue
        yield item_line(line, text, row.get("id") or str(n), None, limits)


def _plain(fh: TextIO | io.TextIOBase, limits: Limits) -> Iterator[ParsedLine]:
    for n, raw in enumerate(fh, start=1):
        line = raw.rstrip("\r\n")
        if line.strip():
            yield item_line(n, line, str(n), None, limits)
