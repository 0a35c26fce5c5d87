"""Structured logs: one JSON object a line, carrying the request id that the response echoes,
and never the post's text."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.ops.logging import JsonFormatter, configure_logging
from gavel.runtime import Runtime

SECRET_TEXT = "Zyxwvut-unique-post-text Jews are vermin"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The formatter the service installs, on a buffer, for the duration of one test."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_request_id_is_echoed_and_logged(rules_runtime: Runtime, captured: io.StringIO) -> None:
    with TestClient(create_app(runtime=rules_runtime)) as client:
        r = client.post("/evaluate", json={"text": SECRET_TEXT}, headers={"X-Request-ID": "req-42"})
        assert r.status_code == 200
        assert r.headers["X-Request-ID"] == "req-42"
        generated = client.get("/healthz").headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
    records = _lines(captured)
    requests = [rec for rec in records if rec.get("msg") == "request"]
    assert any(rec.get("request_id") == "req-42" and rec.get("route") == "/evaluate" for rec in requests), requests
    assert any(rec.get("request_id") == generated for rec in requests)


def test_post_text_never_reaches_the_logs(rules_runtime: Runtime, captured: io.StringIO) -> None:
    with TestClient(create_app(runtime=rules_runtime)) as client:
        client.post("/evaluate", json={"text": SECRET_TEXT})
        client.post("/evaluate/batch", json={"items": [{"text": SECRET_TEXT}]})
        client.post("/evaluate", json={"text": SECRET_TEXT, "policies": ["nope"]})  # an error path too
        client.post("/evaluate", json={"text": SECRET_TEXT, "surprise": 1})
    assert captured.getvalue(), "expected request log lines"
    assert "Zyxwvut" not in captured.getvalue()


def test_configure_logging_writes_json(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO", json_logs=True)
        logging.getLogger("gavel.test").info("hello", extra={"policy": "demo"})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["msg"] == "hello" and record["level"] == "info" and record["policy"] == "demo"
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_body_cap_answers_carry_an_id_and_are_counted(rules_runtime: Runtime) -> None:
    """The request log sits outside the body-size cap: a 413 is logged, counted and has an id."""
    with TestClient(create_app(runtime=rules_runtime)) as client:
        too_big = b'{"text": "' + b"a" * (rules_runtime.settings.max_body_bytes + 1) + b'"}'
        r = client.post(
            "/evaluate", content=too_big, headers={"content-type": "application/json", "X-Request-ID": "big-1"}
        )
        assert r.status_code == 413 and r.headers["X-Request-ID"] == "big-1"
        bad_id = client.get("/healthz", headers={"X-Request-ID": "has space"}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", bad_id)  # refused and replaced, not echoed
        metrics = client.get("/metrics").text
    assert 'gavel_http_requests_total{method="POST",route="unmatched",status="413"} 1.0' in metrics


def test_log_text_setting_puts_text_in_the_logs(caplog: pytest.LogCaptureFixture) -> None:

    from fastapi.testclient import TestClient

    from gavel.api.app import create_app
    from gavel.runtime import build_runtime
    from gavel.settings import Settings
    from tests.conftest import POLICY_DIR

    settings = Settings(policy_dir=POLICY_DIR, models="", log_text=True)
    app = create_app(runtime=build_runtime(settings, load_models=False))
    with caplog.at_level(logging.INFO), TestClient(app) as client:
        client.post("/evaluate", json={"text": "a very particular sentence 42"})
    assert any(getattr(r, "text", None) == "a very particular sentence 42" for r in caplog.records)
