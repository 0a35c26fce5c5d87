"""POST /evaluate/stream: order, per-line errors, streaming before the input ends, bounded memory."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.intake import Limits
from gavel.runtime import Runtime
from gavel.stream.ndjson import NdjsonEvaluation, parse_line, split_lines


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def _split(data: bytes, size: int, limit: int) -> list[tuple[int, bytes | None]]:
    return [x async for x in split_lines(_chunks(data, size), limit)]


@pytest.mark.parametrize("lines", [
    [b"a"], [b"abc", b"", b"12345678", b"123456789"], [b"", b""], [b"x" * 30, b"ok", b"y" * 9],
    [b"\xff\xfe", b"\r", b"tail"],
])
async def test_split_lines_whatever_the_chunking(lines: list[bytes]) -> None:
    for trailing in (True, False):
        data = b"\n".join(lines) + (b"\n" if trailing else b"")
        expected = [(i + 1, line if len(line) <= 8 else None) for i, line in enumerate(lines)]
        if not trailing and not lines[-1]:
            expected = expected[:-1]  # an empty last line without a newline is no line at all
        for size in range(1, 12):  # every way the body may be cut into chunks
            assert await _split(data, size, limit=8) == expected, (trailing, size)


def test_bad_lines_name_line_field_and_problem() -> None:
    limits = Limits(max_line_bytes=100, max_text_chars=5, max_context_keys=1)
    cases = {
        None: ("too_large", "line"),
        b"\xff\xfe": ("invalid_encoding", "line"),
        b"{not json": ("invalid_json", "line"),
        b"[1, 2]": ("invalid_request", "line"),
        b'{"id": "a"}': ("invalid_request", "text"),
        b'{"text": "hi", "colour": "red"}': ("invalid_request", "colour"),
        b'{"text": 3}': ("invalid_request", "text"),
        b'{"text": "far too long"}': ("too_large", "text"),
        # the same error /evaluate answers (422 invalid_request), from the one validate_item
        b'{"text": "hi", "context": {"a": 1, "b": 2}}': ("invalid_request", "context"),
        b'{"text": "hi", "id": "' + b"i" * 300 + b'"}': ("invalid_request", "id"),
    }
    for raw, (error, field) in cases.items():
        parsed = parse_line(7, raw, limits)
        assert parsed is not None and parsed.error is not None, raw
        body = parsed.error.as_json()
        assert (body["line"], body["error"], body["problems"][0]["field"]) == (7, error, field), raw
    assert parse_line(1, b"   \r", limits) is None
    ok = parse_line(2, b'{"text": "hi", "id": "x", "context": {"a": 1}}\r', limits)
    assert ok is not None and ok.item is not None and ok.item.context == {"a": 1}


def _ndjson(items: list[Any]) -> bytes:
    return b"".join((x if isinstance(x, bytes) else json.dumps(x).encode()) + b"\n" for x in items)


def test_http_stream_answers_in_order_and_goes_on(demo_runtime: Runtime) -> None:
    body = _ndjson([
        {"id": "a", "text": "we will kill all muslims"},
        b"{broken",
        b"",
        {"id": "c", "text": "hello"},
        {"id": "d", "text": "x" * 20_000},
        b'{"text": "' + b"y" * 200_000 + b'"}',
        {"id": "e", "text": "you idiot", "context": {"lang": "en"}},
    ])
    with TestClient(create_app(demo_runtime.settings, demo_runtime)) as client:
        r = client.post("/evaluate/stream", content=body, headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        out = [json.loads(line) for line in r.text.splitlines()]
        assert [o.get("id") for o in out] == ["a", None, "c", "d", None, "e"]
        assert out[0]["decision"]["action"] == "remove"
        assert out[0]["policies"][0]["clauses"][0]["evidence"][0]["text"] == "kill"
        assert (out[1]["line"], out[1]["error"], out[1]["problems"][0]["field"]) == (2, "invalid_json", "line")
        assert (out[3]["line"], out[3]["error"], out[3]["problems"][0]["field"]) == (5, "too_large", "text")
        assert (out[4]["line"], out[4]["error"]) == (6, "too_large")
        assert out[5]["decision"]["action"] == "review"

        assert client.post("/evaluate/stream?policies=nope", content=body).status_code == 422
        same = client.post("/evaluate/stream", params={"policies": "demo"}, content=body)
        assert len(same.text.splitlines()) == 6


async def test_answers_stream_before_the_input_ends(demo_runtime: Runtime) -> None:
    """Drive the ASGI app by hand: the first answer must leave before the last line arrives."""
    app = create_app(demo_runtime.settings, demo_runtime)
    sent_first = asyncio.Event()
    answered: list[bytes] = []
    fed = 0

    async def receive() -> MutableMapping[str, Any]:
        nonlocal fed
        if fed == 0:
            fed += 1
            return {"type": "http.request", "body": _ndjson([{"id": "1", "text": "hello"}]), "more_body": True}
        if fed == 1:
            fed += 1
            await asyncio.wait_for(sent_first.wait(), 5)  # hold the rest until an answer went out
            return {"type": "http.request", "body": _ndjson([{"id": "2", "text": "you idiot"}]), "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            answered.append(message["body"])
            sent_first.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/evaluate/stream", "raw_path": b"/evaluate/stream", "root_path": "", "scheme": "http",
             "query_string": b"", "headers": [(b"content-type", b"application/x-ndjson")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await asyncio.wait_for(app(scope, receive, send), 10)
    lines = [json.loads(x) for x in b"".join(answered).splitlines()]
    assert [x["id"] for x in lines] == ["1", "2"]
    assert fed == 2


@pytest.mark.slow
async def test_100k_lines_in_bounded_memory(demo_runtime: Runtime) -> None:
    """100,000 lines in, 100,000 answers out, and nothing accumulates on the way: over a window of
    20,000 lines (~20 MB of answers) the memory traced stays a few MB."""
    n = 100_000
    line = b'{"text": "you idiot"}\n'
    bad = b'{"text": }\n'

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, n, 500):
            yield b"".join(bad if (start + i) % 1000 == 999 else line for i in range(500))

    run = NdjsonEvaluation(demo_runtime.evaluator, None, Limits())
    count = errors = window_bytes = 0
    peak = 0
    try:
        async for chunk in run.run(body()):
            for out in chunk.splitlines():
                count += 1
                errors += out.startswith(b'{"line"')
            if 20_000 <= count < 40_000:
                window_bytes += len(chunk)
            if count >= 20_000 and not tracemalloc.is_tracing() and not peak:
                tracemalloc.start()  # traced over a window only: tracing every line is slow
            if count >= 40_000 and tracemalloc.is_tracing():
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
    finally:
        tracemalloc.stop()
    assert count == n and errors == n // 1000
    assert window_bytes > 10 * 1024 * 1024
    assert 0 < peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
