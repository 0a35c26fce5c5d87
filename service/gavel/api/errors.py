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

from gavel.errors import GavelError, OverloadedError
from gavel.intake import error_body
from gavel.problems import pydantic_problems

log = logging.getLogger("gavel.api")


def error_response(
    status: int,
    error: str,
    message: str,
    problems: Sequence[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": error,
        "message": message,
        "problems": [{"field": f, "problem": p} for f, p in problems],
    }
    return JSONResponse(status_code=status, content=body, headers=headers)


def gavel_error_response(exc: GavelError) -> JSONResponse:
    status, body = error_body(exc)
    headers = {"Retry-After": "1"} if isinstance(exc, OverloadedError) else None
    return JSONResponse(status_code=status, content=body, headers=headers)


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
            pydantic_problems(errors),
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
