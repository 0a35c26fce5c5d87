"""The per-request work budget (413 naming the field), body timeouts (a short body never hangs,
also through a real uvicorn), /docs without a CDN, admin routes out of the schema when disabled."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.runtime import Runtime
from gavel.settings import Settings


def _app_with(runtime: Runtime, **overrides: Any) -> TestClient:
    settings = runtime.settings.model_copy(update=overrides)
    return TestClient(create_app(settings, Runtime(settings, runtime.hub, runtime.registry, runtime.evaluator)))


def test_batch_characters_over_the_budget_is_413_naming_items(demo_runtime: Runtime) -> None:
    with _app_with(demo_runtime, max_batch_chars=100) as client:
        ok = client.post("/evaluate/batch", json={"items": [{"text": "a" * 50}, {"text": "b" * 50}]})
        assert ok.status_code == 200
        r = client.post("/evaluate/batch", json={"items": [{"text": "a" * 60}, {"text": "b" * 60}]})
        assert r.status_code == 413
        assert r.json()["problems"] == [
            {"field": "items", "problem": "120 characters of text in all is over the limit of 100"}
        ]


def test_evidence_per_clause_over_the_budget_is_413_naming_the_text(demo_runtime: Runtime) -> None:
    with _app_with(demo_runtime, max_evidence_per_clause=2) as client:
        assert client.post("/evaluate", json={"text": "idiot, idiot"}).status_code == 200
        r = client.post("/evaluate", json={"text": "idiot, idiot, idiot"})
        assert r.status_code == 413
        problem = r.json()["problems"][0]
        assert problem["field"] == "text" and "3 evidence items for demo.insults" in problem["problem"]
        batch = client.post("/evaluate/batch", json={"items": [{"text": "hi"}, {"text": "idiot idiot idiot"}]})
        assert batch.status_code == 413 and batch.json()["problems"][0]["field"] == "items[1].text"
        stream = client.post("/evaluate/stream", content=b'{"text": "hi"}\n{"text": "idiot idiot idiot"}\n')
        first, second = (json.loads(x) for x in stream.text.splitlines())
        assert first["decision"]["action"] == "allow"
        assert (second["line"], second["error"], second["problems"][0]["field"]) == (2, "too_large", "text")


def test_response_over_the_budget_is_413_naming_response(demo_runtime: Runtime) -> None:
    with _app_with(demo_runtime, max_response_bytes=2_000) as client:
        assert client.post("/evaluate", json={"text": "hello"}).status_code == 200
        r = client.post("/evaluate/batch", json={"items": [{"text": "hello"}] * 10})
        assert r.status_code == 413 and r.json()["problems"][0]["field"] == "response"


async def test_a_body_shorter_than_its_content_length_gets_408(demo_runtime: Runtime) -> None:
    settings = demo_runtime.settings.model_copy(update={"body_timeout_s": 0.3})
    app = create_app(settings, Runtime(settings, demo_runtime.hub, demo_runtime.registry, demo_runtime.evaluator))
    sent: list[MutableMapping[str, Any]] = []
    calls = 0

    async def receive() -> MutableMapping[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b'{"text": "hel', "more_body": True}
        await asyncio.sleep(3600)  # the rest never comes
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/evaluate", "raw_path": b"/evaluate", "root_path": "", "scheme": "http", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    began = time.monotonic()
    await asyncio.wait_for(app(scope, receive, send), 5)
    assert time.monotonic() - began < 2
    assert sent[0]["status"] == 408
    body = json.loads(sent[1]["body"])
    assert body["error"] == "timeout" and body["problems"][0]["field"] == "body"


@pytest.fixture
def live_server(demo_runtime: Runtime) -> Iterator[int]:
    """The app under a real uvicorn (the options `gavel serve` uses), on a free port."""
    settings = demo_runtime.settings.model_copy(
        update={"body_timeout_s": 0.5, "stream_idle_timeout_s": 0.5, "keep_alive_timeout_s": 1})
    app = create_app(settings, Runtime(settings, demo_runtime.hub, demo_runtime.registry, demo_runtime.evaluator))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           timeout_keep_alive=settings.keep_alive_timeout_s))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(10)
    sock.close()


def _raw(port: int, request: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_a_short_body_is_cut_off_by_the_real_server(live_server: int) -> None:
    began = time.monotonic()
    reply = _raw(live_server, b"POST /evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 100\r\n\r\n{\"text\": \"hel")
    assert time.monotonic() - began < 4
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["error"] == "timeout"


def test_an_idle_keep_alive_connection_is_closed(live_server: int) -> None:
    began = time.monotonic()
    reply = _raw(live_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # then send nothing more
    assert reply.startswith(b"HTTP/1.1 200") and time.monotonic() - began < 4


def test_a_stalled_stream_ends_with_a_stream_error_line(live_server: int) -> None:
    line = b'{"text": "hello"}\n'
    reply = _raw(live_server, b"POST /evaluate/stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + f"{len(line):x}\r\n".encode() + line + b"\r\n")  # and then nothing
    body = reply.partition(b"\r\n\r\n")[2].replace(b"\r\n", b"\n")
    lines = [json.loads(x) for x in body.split(b"\n") if x.startswith(b"{")]
    assert lines[0]["decision"]["action"] == "allow"
    assert lines[-1]["error"] == "stream_error" and "no body received" in lines[-1]["message"]


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text and "/docs-assets/swagger-ui-bundle.js" in page.text
    js = client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200


def test_schema_has_examples_and_admin_only_when_enabled(client: TestClient, demo_runtime: Runtime) -> None:
    schema = client.get("/openapi.json").json()
    assert not [p for p in schema["paths"] if p.startswith("/admin")]
    assert client.post("/admin/reload").status_code == 404  # still answers, with the reason
    components = schema["components"]["schemas"]
    assert components["EvaluateRequest"]["examples"][0]["text"]
    assert components["BatchRequest"]["examples"][0]["items"]
    ok = schema["paths"]["/evaluate"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["example"]["policies"][0]["clauses"][0]["evidence"]
    settings = Settings(policy_dir=demo_runtime.settings.policy_dir, models="", admin_enabled=True,
                        admin_api_key="k" * 32)
    with TestClient(create_app(settings, Runtime(settings, None, demo_runtime.registry,
                                                 demo_runtime.evaluator))) as admin_client:
        paths = admin_client.get("/openapi.json").json()["paths"]
        assert "/admin/reload" in paths
