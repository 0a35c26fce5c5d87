"""The review API under /review: the queue (viewer reads, reviewer claims and decides), the audit
log, agreement figures, per-author view and exports. Store calls run in a thread."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gavel.auth.deps import AUTH_RESPONSES, AuthDenied, ReviewerDep, ViewerDep, review_of
from gavel.review import insights
from gavel.review.queue import ClauseJudgement
from gavel.review.reads import ItemFilter
from gavel.review.service import Review

router = APIRouter(prefix="/review", tags=["review"])

_NO_NUL = r"^[^\x00]*$"  # PostgreSQL text refuses NUL: refused here as the caller's mistake
Name = Annotated[str | None, Query(max_length=256, pattern=_NO_NUL)]
ItemId = Annotated[int, Path(ge=1, lt=2**31)]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    409: {"description": "the item is not in a state that allows this (claimed by another, decided, ...)"},
    422: {"description": "a malformed filter or body"},
}


def _review(request: Request) -> Review:
    review = review_of(request)
    if review is None:
        raise AuthDenied(404, "store_disabled", "no verdict store is configured")
    return review


class Filters(BaseModel):
    state: Literal["open", "claimed", "decided", "any"] = "open"
    policy: Annotated[str | None, Field(max_length=256, pattern=_NO_NUL)] = None
    clause: Annotated[str | None, Field(max_length=256, pattern=_NO_NUL)] = None
    verdict: Literal["violates", "needs_review", "no_violation"] | None = None
    author: Annotated[str | None, Field(max_length=256, pattern=_NO_NUL)] = None
    reason: Literal["review", "sample_allow", "sample_remove"] | None = None
    older_than_s: Annotated[int | None, Field(ge=0, le=10**9)] = None
    newer_than_s: Annotated[int | None, Field(ge=0, le=10**9)] = None

    def query(self) -> ItemFilter:
        fields = self.model_dump()
        return ItemFilter(**{**fields, "state": None if self.state == "any" else self.state})


@router.get("/items", responses=RESPONSES)
async def list_items(
    _: ViewerDep,
    request: Request,
    filters: Annotated[Filters, Query()],
    after: Annotated[int | None, Query(ge=0, lt=2**31, description="the `next_after` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The queue, oldest first, with the number of items per state under the same filters."""
    queue = _review(request).queue
    f = filters.query()
    page, counts = await asyncio.gather(
        asyncio.to_thread(queue.page, f, after, limit), asyncio.to_thread(queue.counts, f)
    )
    return {"items": page.items, "next_after": page.next_after, "counts": counts}


@router.get("/items/{item_id}", responses=RESPONSES)
async def get_item(_: ViewerDep, item_id: ItemId, request: Request) -> dict[str, Any]:
    """One item: the post, each clause's verdict with evidence and exceptions, decisions, audit."""
    return await asyncio.to_thread(_review(request).queue.get, item_id)


@router.post("/items/{item_id}/claim", responses=RESPONSES)
async def claim(who: ReviewerDep, item_id: ItemId, request: Request) -> dict[str, Any]:
    return await asyncio.to_thread(_review(request).queue.claim, item_id, who.name)


@router.post("/next", responses=RESPONSES)
async def claim_next(who: ReviewerDep, request: Request, filters: Filters | None = None) -> dict[str, Any]:
    """Claim the oldest open item under the filters that this reviewer may take."""
    f = (filters or Filters()).query()
    return {"item": await asyncio.to_thread(_review(request).queue.claim_next, who.name, f)}


@router.post("/items/{item_id}/release", responses=RESPONSES)
async def release(who: ReviewerDep, item_id: ItemId, request: Request) -> dict[str, Any]:
    await asyncio.to_thread(_review(request).queue.release, item_id, who.name)
    return {"released": item_id}


class JudgementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy_id: Annotated[str, Field(max_length=256)]
    clause_id: Annotated[str, Field(max_length=256)]
    judgement: Literal["uphold", "overturn"]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    final_action: Literal["allow", "remove"]
    note: Annotated[str, Field(max_length=4_000, pattern=_NO_NUL)] = ""
    judgements: Annotated[list[JudgementIn], Field(max_length=1_000)] = Field(default_factory=list)


@router.post("/items/{item_id}/decision", responses=RESPONSES)
async def decide(who: ReviewerDep, item_id: ItemId, body: DecisionIn, request: Request) -> dict[str, Any]:
    """Decide a claimed item: per clause uphold or overturn (unlisted clauses are upheld), the
    final action and a note. The policy version that judged the post is recorded with each clause."""
    judgements = [ClauseJudgement(j.policy_id, j.clause_id, j.judgement) for j in body.judgements]
    queue = _review(request).queue
    return await asyncio.to_thread(queue.decide, item_id, who.name, body.final_action, body.note, judgements)


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, Field(max_length=4_000, pattern=_NO_NUL)] = ""


@router.post("/items/{item_id}/appeal", responses=RESPONSES)
async def appeal(who: ReviewerDep, item_id: ItemId, request: Request, body: AppealIn | None = None) -> dict[str, Any]:
    """Re-open a decided item; a reviewer other than the last decider must decide it again."""
    note = body.note if body else ""
    return await asyncio.to_thread(_review(request).queue.appeal, item_id, who.name, note)


@router.get("/audit", responses=RESPONSES)
async def audit_log(
    _: ViewerDep,
    request: Request,
    item_id: Annotated[int | None, Query(ge=1, lt=2**31)] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 200,
) -> dict[str, Any]:
    """The append-only audit log, newest first."""
    return {"entries": await asyncio.to_thread(_review(request).queue.audit_log, item_id, limit)}


@router.get("/agreement", responses=RESPONSES)
async def agreement(_: ViewerDep, request: Request, policy: Name = None) -> dict[str, Any]:
    """Precision/recall of violates and needs_review against reviewers' current decisions, and
    the overturn rate, per policy version and clause."""
    return {"clauses": await asyncio.to_thread(insights.agreement, _review(request).engine, policy)}


@router.get("/queue-age", responses=RESPONSES)
async def queue_age(_: ViewerDep, request: Request) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"buckets": await asyncio.to_thread(insights.queue_age, _review(request).engine, now)}


@router.get("/authors/{author_id}", responses=RESPONSES)
async def author(
    _: ViewerDep, author_id: Annotated[str, Path(max_length=256, pattern=_NO_NUL)], request: Request
) -> dict[str, Any]:
    """An author's queued posts and decisions, strikes, and Gavel's own author history."""
    view = await asyncio.to_thread(insights.author_view, _review(request).engine, author_id)
    stages = request.app.state.runtime.stages
    history = stages.history if stages is not None else None
    view["history"] = None
    if history is not None:
        try:
            view["history"] = (await history.snapshot({author_id})).get(author_id)
        except Exception as exc:  # the history store is down: the view still answers
            view["history"] = {"history_unavailable": type(exc).__name__}
    return view


@router.get("/export", responses=RESPONSES)
async def export(
    _: ViewerDep,
    request: Request,
    format: Literal["csv", "jsonl"] = "jsonl",
    policy: Name = None,
) -> Response:
    """Current decisions as CSV (one row per judged clause) or JSON Lines (one per decision)."""
    engine = _review(request).engine
    if format == "csv":
        body = await asyncio.to_thread(insights.decisions_csv, engine, policy)
        return Response(
            body, media_type="text/csv", headers={"Content-Disposition": "attachment; filename=decisions.csv"}
        )
    body = await asyncio.to_thread(insights.decisions_jsonl, engine, policy)
    return Response(body, media_type="application/x-ndjson")
