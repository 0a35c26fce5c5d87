"""The one place where errors become HTTP answers: every failure is a JSON body naming the field
and the problem, with one status code per branch of the exception tree."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gavel.engine.yaml_source import format_loc
from gavel.errors import (
    EvaluationError,
    GavelError,
    InputTooLargeError,
    InvalidInputError,
    ModelUnavailableError,
    OverloadedError,
    PolicyError,
    PolicyValidationError,
    Problem,
    UnknownPolicyError,
)

log = logging.getLogger("gavel.api")


def error_response(
    status: int,
    error: str,
    message: str,
    problems: Sequence[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
    located: Sequence[Problem] = (),
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": error,
        "message": message,
        # a policy problem keeps its location as fields: file, line, col, path, message
        "problems": [{"field": f, "problem": p} for f, p in problems]
        + [{"field": "policy", "problem": str(p), **p.as_dict()} for p in located],
    }
    return JSONResponse(status_code=status, content=body, headers=headers)


def _field(loc: Sequence[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return format_loc(parts) or "body"


def validation_problems(errors: Sequence[Any]) -> list[tuple[str, str]]:
    problems = []
    for err in errors:
        kind = err.get("type", "")
        msg = str(err.get("msg", "invalid"))
        if kind == "extra_forbidden":
            msg = "unknown field"
        elif kind == "missing":
            msg = "required field is missing"
        problems.append((_field(err.get("loc", ())), msg))
    return problems


def gavel_error_response(exc: GavelError) -> JSONResponse:
    if isinstance(exc, UnknownPolicyError):
        return error_response(
            422,
            "unknown_policy",
            str(exc),
            [("policies", f"unknown policy id '{p}'") for p in exc.policy_ids],
        )
    if isinstance(exc, InputTooLargeError):
        return error_response(
            413,
            "too_large",
            str(exc),
            [(exc.field, f"{exc.size} is over the limit of {exc.limit}")],
        )
    if isinstance(exc, InvalidInputError):
        return error_response(422, "invalid_request", str(exc), [(exc.field, exc.problem)])
    if isinstance(exc, OverloadedError):
        return error_response(
            503,
            "overloaded",
            str(exc) or "model queue is full; retry later",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, ModelUnavailableError):
        return error_response(503, "model_unavailable", str(exc), [("model", exc.reason)])
    if isinstance(exc, PolicyValidationError):
        return error_response(422, "policy_error", "policy problems", located=exc.problems)
    if isinstance(exc, PolicyError):
        return error_response(422, "policy_error", "policy problems", [("policy", str(exc))])
    if isinstance(exc, EvaluationError):
        return error_response(422, "evaluation_error", str(exc))
    return error_response(400, "bad_request", str(exc))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = next(e for e in errors if e.get("type") == "json_invalid")
            return error_response(
                400,
                "invalid_json",
                "the body is not valid JSON",
                [("body", str(detail.get("ctx", {}).get("error", detail.get("msg"))))],
            )
        return error_response(
            422,
            "invalid_request",
            "the request does not match the schema",
            validation_problems(errors),
        )

    @app.exception_handler(GavelError)
    async def _gavel(request: Request, exc: GavelError) -> JSONResponse:
        return gavel_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI could not decode the body at all (invalid UTF-8, unreadable form)
            return error_response(
                400,
                "invalid_body",
                "the body could not be decoded (is it UTF-8 JSON?)",
                [("body", str(exc.detail))],
            )
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(UnicodeDecodeError)
    async def _unicode(request: Request, exc: UnicodeDecodeError) -> JSONResponse:
        return error_response(400, "invalid_encoding", "the body is not valid UTF-8", [("body", str(exc.reason))])
