"""Dashboard reads of the verdict store: GET /verdicts, GET /verdicts/{id}, GET /stats.

The store is synchronous (SQLite or PostgreSQL); its calls run in a thread, off the event loop.
Without a store (`store_url` unset) these answer 404 `store_disabled`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from gavel.api.deps import RuntimeDep
from gavel.api.errors import error_response
from gavel.api.schemas import ErrorBody
from gavel.auth.deps import AUTH_RESPONSES, ViewerDep
from gavel.engine.results import Action, Verdict
from gavel.runtime import Runtime
from gavel.store.engine import StoreError
from gavel.store.records import BUCKETS, StoredDecision, VerdictQuery, decode_cursor, encode_cursor
from gavel.store.sql import SqlVerdictStore

router = APIRouter(tags=["verdicts"])

_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "no such record, or no verdict store configured"},
    422: {"model": ErrorBody, "description": "a filter or the cursor is malformed"},
    503: {"model": ErrorBody, "description": "the verdict store is unreachable"},
    **{k: v for k, v in AUTH_RESPONSES.items() if k not in (404, 503)},  # reads need a viewer key
}

Text = Annotated[str | None, Query(max_length=256)]


class VerdictPage(BaseModel):
    records: list[StoredDecision]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null on the last")


class ClauseCount(BaseModel):
    start: datetime
    policy_id: str
    clause_id: str
    verdict: str
    count: int


class ActionCount(BaseModel):
    start: datetime
    action: str
    count: int


class StatsAnswer(BaseModel):
    bucket: str
    bucket_seconds: int
    since: datetime
    until: datetime
    clauses: list[ClauseCount] = Field(description="clause verdicts per time bucket, policy, clause and verdict")
    actions: list[ActionCount] = Field(description="decisions per time bucket and action")


def _store(runtime: Runtime) -> SqlVerdictStore | None:
    return runtime.stages.store if runtime.stages is not None else None


def _disabled() -> Response:
    return error_response(404, "store_disabled", "no verdict store is configured (set GAVEL_STORE_URL)")


def _unavailable(exc: StoreError) -> Response:
    # str(exc) is Gavel's own sentence: the driver's message (host, port, user) stays in the log
    return error_response(503, "store_unavailable", str(exc), headers={"Retry-After": "1"})


def _unknown_clause(runtime: Runtime, policy: str | None, clause: str | None) -> Response | None:
    """A clause no loaded policy (or not the given policy) has is a typo, not an empty answer."""
    if clause is None:
        return None
    policies = runtime.registry.current.policies
    scope = [policies[policy]] if policy in policies else [] if policy is not None else list(policies.values())
    known = sorted({c.id for p in scope for c in p.clauses})
    if clause in known:
        return None
    where = f"policy '{policy}'" if policy is not None else "the loaded policies"
    return error_response(
        422,
        "invalid_request",
        "the request does not match the schema",
        [("clause", f"'{clause}' is not a clause of {where}; known: {', '.join(known) or 'none'}")],
    )


def store_readiness(runtime: Runtime) -> tuple[dict[str, object] | None, bool]:
    """The store's part of /readyz, and whether it keeps the process from being ready (only when
    GAVEL_STORE_REQUIRED: otherwise a store outage makes the process degraded, records spooled)."""
    stages = runtime.stages
    store = stages.store if stages is not None else None
    if store is None or stages is None:
        return None, True
    recorder = stages.recorder
    spool = recorder.spool if recorder is not None else None
    part: dict[str, object] = {
        "state": store.state,  # unknown (not yet connected), ok, unavailable
        "required": runtime.settings.store_required,
        "spooled": len(spool) if spool is not None else None,
    }
    if store.state == "unavailable":
        part["reason"] = "the verdict store is unreachable"  # the driver's reason is in the log and metrics
    ok = store.state != "unavailable" or not runtime.settings.store_required
    return part, ok


def _nul(**values: str | None) -> Response | None:
    # PostgreSQL refuses NUL in text: that is the caller's mistake, not the store's failure
    bad = [(name, "must not contain NUL characters") for name, v in values.items() if v is not None and "\x00" in v]
    return error_response(422, "invalid_request", "the request does not match the schema", bad) if bad else None


@router.get("/verdicts", response_model=VerdictPage, responses=_ERRORS)
async def list_verdicts(
    _: ViewerDep,
    runtime: RuntimeDep,
    policy: Text = None,
    clause: Annotated[
        str | None,
        Query(max_length=256, description="records where this clause's verdict is `verdict` (default: not allow)"),
    ] = None,
    verdict: Verdict | None = None,
    author: Text = None,
    id: Text = None,
    action: Action | None = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 or epoch seconds, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601 or epoch seconds, exclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response | VerdictPage:
    store = _store(runtime)
    if store is None:
        return _disabled()
    refused = _nul(policy=policy, clause=clause, author=author, id=id) or _unknown_clause(runtime, policy, clause)
    if refused is not None:
        return refused
    before = None
    if cursor is not None:
        try:
            before = decode_cursor(cursor)
        except ValueError as exc:
            return error_response(
                422,
                "invalid_request",
                "the request does not match the schema",
                [("cursor", str(exc))],
            )
    query = VerdictQuery(
        policy=policy,
        clause=clause,
        verdict=verdict.value if verdict else None,
        author=author,
        id=id,
        action=action.value if action else None,
        since=since,
        until=until,
        before_seq=before,
        limit=limit,
    )
    try:
        page = await asyncio.to_thread(store.query, query)
    except StoreError as exc:
        return _unavailable(exc)
    return VerdictPage(
        records=page.records,
        next_cursor=encode_cursor(page.next_seq) if page.next_seq is not None else None,
    )


@router.get("/verdicts/{record_id}", response_model=StoredDecision, responses=_ERRORS)
async def get_verdict(_: ViewerDep, record_id: str, runtime: RuntimeDep) -> Response | StoredDecision:
    """The newest record of a post id (or a record's uid)."""
    store = _store(runtime)
    if store is None:
        return _disabled()
    refused = _nul(record_id=record_id)
    if refused is not None:
        return refused
    try:
        record = await asyncio.to_thread(store.get, record_id)
    except StoreError as exc:
        return _unavailable(exc)
    if record is None:
        return error_response(404, "not_found", f"no verdict recorded for '{record_id}'", [("id", "not found")])
    return record


@router.get("/stats", response_model=StatsAnswer, responses=_ERRORS)
async def stats(
    _: ViewerDep,
    runtime: RuntimeDep,
    bucket: Literal["minute", "hour", "day"] = "hour",
    since: Annotated[datetime | None, Query(description="default: 24 hours ago")] = None,
    until: Annotated[datetime | None, Query(description="default: now")] = None,
    policy: Text = None,
    clause: Text = None,
) -> Response | StatsAnswer:
    store = _store(runtime)
    if store is None:
        return _disabled()
    refused = _nul(policy=policy, clause=clause) or _unknown_clause(runtime, policy, clause)
    if refused is not None:
        return refused
    until = until or datetime.now(UTC)
    since = since or until - timedelta(hours=24)
    try:
        result = await asyncio.to_thread(store.stats, since, until, BUCKETS[bucket], policy, clause)
    except StoreError as exc:
        return _unavailable(exc)
    return StatsAnswer(
        bucket=bucket,
        bucket_seconds=BUCKETS[bucket],
        since=since,
        until=until,
        clauses=[
            ClauseCount(
                start=r.start,
                policy_id=r.policy_id,
                clause_id=r.clause_id,
                verdict=r.verdict,
                count=r.count,
            )
            for r in result.clauses
        ],
        actions=[ActionCount(start=r.start, action=r.action, count=r.count) for r in result.actions],
    )
