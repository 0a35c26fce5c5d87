"""A Redis stream entry of the worker and the job it becomes: the fields are checked by the one
`validate_item` of every entry point; what can never succeed is a `PermanentError` (dead letter)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gavel.engine.evaluator import EvalItem
from gavel.engine.results import EvaluationResult
from gavel.errors import GavelError
from gavel.intake import Evaluates, Limits, validate_item


@dataclass
class Entry:
    entry_id: str
    fields: dict[bytes, bytes]
    deliveries: int = 1


@dataclass(frozen=True)
class Job:
    entry: Entry
    item: EvalItem
    policies: tuple[str, ...] | None


class PermanentError(Exception):
    """An entry that no retry can fix: it goes to the dead-letter stream at once."""


@dataclass
class Outcome:
    """What became of each entry of a batch."""

    results: dict[str, EvaluationResult] = field(default_factory=dict)  # entry id -> result
    dead: dict[str, str] = field(default_factory=dict)  # entry id -> reason
    retry: dict[str, str] = field(default_factory=dict)  # entry id -> reason (left pending)
    gone: list[str] = field(default_factory=list)  # deleted from the stream while pending: just ack


def job_of(e: Entry, limits: Limits, default_policies: tuple[str, ...] | None, evaluator: Evaluates) -> Job:
    f = e.fields
    post_id = text_field(f, b"id") or e.entry_id
    text = text_field(f, b"text")
    if text is None:
        raise PermanentError("missing field 'text'")
    context: Any = None
    raw_context = text_field(f, b"context")
    if raw_context:
        try:
            context = json.loads(raw_context)
        except json.JSONDecodeError as exc:
            raise PermanentError(f"context: not valid JSON: {exc.msg} at column {exc.colno}") from exc
    try:
        item = validate_item(text, post_id, context, limits)
    except GavelError as exc:
        raise PermanentError(str(exc)) from exc
    policies = default_policies
    raw_policies = text_field(f, b"policies")
    if raw_policies:
        policies = policy_ids(raw_policies)
        try:
            evaluator.select(policies)
        except GavelError as exc:
            raise PermanentError(f"policies: {exc}") from exc
    return Job(e, item, policies)


def as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def text_field(fields: dict[bytes, bytes], name: bytes) -> str | None:
    raw = fields.get(name)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PermanentError(f"{name.decode()}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc


def policy_ids(raw: str) -> tuple[str, ...]:
    if raw.lstrip().startswith("["):
        try:
            ids = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PermanentError(f"policies: not valid JSON: {exc.msg}") from exc
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise PermanentError("policies: must be a list of policy ids")
        return tuple(ids)
    return tuple(p.strip() for p in raw.split(",") if p.strip())
