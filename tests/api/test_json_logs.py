"""JSON logs carry no terminal escapes: uvicorn's records (with their `color_message` twin) go
through Gavel's handler, and colour codes or progress-bar carriage returns are stripped."""

from __future__ import annotations

import io
import json
import logging

from gavel.ops.logging import JsonFormatter, configure_logging


def test_uvicorn_records_are_plain_json() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        _check_uvicorn_records(root)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def _check_uvicorn_records(root: logging.Logger) -> None:
    configure_logging("INFO", json_logs=True)
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 42, extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"}
    )
    logging.getLogger("gavel.test").warning("\x1b[31mred\x1b[0m 50%|####\r 60%|#####")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines  # uvicorn's logger has no handler of its own: one line each
    first, second = (json.loads(line) for line in lines)
    assert first["msg"] == "Started server process [42]" and "color_message" not in first
    assert second["msg"] == "red 50%|#### 60%|#####"
    assert "\x1b" not in stream.getvalue() and "\\u001b" not in stream.getvalue()


def test_formatter_strips_escapes_from_extra_fields() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    record.route = "\x1b[1m/evaluate\x1b[0m"
    assert json.loads(JsonFormatter().format(record))["route"] == "/evaluate"
