"""The one formatter of pydantic validation errors: (field, problem) pairs with the field written
as a path (`items[2].text`), for the HTTP API, the NDJSON stream, the CLI and the policy loader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gavel.engine.yaml_source import format_loc

__all__ = ["format_loc", "problem_message", "pydantic_problems"]

# where FastAPI says a request error came from; not part of the field's name
_REQUEST_PARTS = ("body", "query", "path", "header")


def problem_message(err: Mapping[str, Any]) -> str:
    """The human problem of one pydantic error (its `loc` says where)."""
    kind = err.get("type", "")
    loc = err.get("loc", ())
    if kind == "extra_forbidden":
        return f"unknown field '{loc[-1]}'" if loc else "unknown field"
    if kind == "missing":
        return "required field is missing"
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


def pydantic_problems(errors: Sequence[Mapping[str, Any]], default_field: str = "body") -> list[tuple[str, str]]:
    """(field, problem) per pydantic error; a request error's body/query prefix is dropped."""
    problems: list[tuple[str, str]] = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if loc and loc[0] in _REQUEST_PARTS:
            loc = loc[1:]
        problems.append((format_loc(loc) or default_field, problem_message(err)))
    return problems
