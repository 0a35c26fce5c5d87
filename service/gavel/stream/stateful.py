"""The stateful stages around the evaluator: author history in, strikes and verdict records out.

`StatefulEvaluator` wraps the engine's `Evaluator` (and answers the same calls), so every caller
(POST /evaluate, /evaluate/batch, /evaluate/stream, the worker, `gavel evaluate`) gets the same
behaviour without knowing the stages exist:

1. before: for items whose `context.author_id` is set, the author's history is merged into
   `context["author"]` (what the caller already put there wins);
2. the wrapped evaluator evaluates;
3. after: each post with a `violates` clause records a strike and its violated clauses, and every
   decision is handed to the verdict recorder (a queue; the writing happens in a thread).

A failing history store is logged and counted; the post is then evaluated without its history
(its context carries `author.history_unavailable` so a policy or a reviewer can tell).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from gavel.engine.compiler import CompiledPolicy
from gavel.engine.evaluator import EvalItem, Evaluator, OnePost
from gavel.engine.results import EvaluationResult
from gavel.review.service import QueueHook, Review, review_on
from gavel.settings import Settings
from gavel.store.recorder import Decided, VerdictRecorder, build_recorder, open_verdict_store
from gavel.store.sql import SqlVerdictStore
from gavel.stream.history import (
    AuthorHistory,
    MemoryAuthorHistory,
    RedisAuthorHistory,
    ViolationEvent,
    author_id_of,
    merge_author,
    violations_of,
)
from gavel.stream.metrics import StageMetrics

log = logging.getLogger("gavel.stages")


@dataclass
class StreamStages:
    metrics: StageMetrics
    history: AuthorHistory | None = None
    store: SqlVerdictStore | None = None
    recorder: VerdictRecorder | None = None
    review: Review | None = None  # the review queue, fed by the recorder (gavel.review)

    async def close(self) -> None:
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)  # drains the queue first
        if self.store is not None:
            self.store.close()  # the review console's engine too (the recorder closed it already, if any)
        if self.history is not None:
            await self.history.close()


def build_history(settings: Settings) -> AuthorHistory | None:
    backend = settings.history_backend
    if backend == "memory":
        return MemoryAuthorHistory(
            settings.history_retention_s,
            settings.history_max_events,
            max_authors=settings.history_max_authors,
            max_author_id_bytes=settings.max_author_id_bytes,
        )
    if backend == "redis":
        return RedisAuthorHistory.from_url(
            settings.redis_url,
            settings.history_prefix,
            settings.history_retention_s,
            settings.history_max_events,
            settings.max_author_id_bytes,
        )
    if backend in ("", "none"):
        return None
    raise ValueError(f"history_backend must be memory, redis or none, not {backend!r}")


def build_stages(settings: Settings, registry: CollectorRegistry | None = None) -> StreamStages:
    metrics = StageMetrics(registry)
    # one store (one engine, one lazy migration) for the records and the review console's tables
    store = open_verdict_store(settings)
    review = review_on(store, settings) if store is not None else None
    feed = QueueHook(review) if review is not None and settings.review_enabled else None
    recorder = build_recorder(settings, metrics, store, review=feed)
    return StreamStages(metrics=metrics, history=build_history(settings), store=store, recorder=recorder, review=review)


class StatefulEvaluator(OnePost):
    """The engine's evaluator with author history before it and strikes and records after it."""

    def __init__(self, base: Evaluator, stages: StreamStages, source: str, paced: bool = False) -> None:
        self.base = base
        self.stages = stages
        self.source = source
        self.paced = paced  # bulk callers wait for the verdict store rather than drop records

    def select(self, policy_ids: Sequence[str] | None) -> list[CompiledPolicy]:
        return self.base.select(policy_ids)


    async def evaluate_many(
        self, items: Sequence[EvalItem], policy_ids: Sequence[str] | None = None
    ) -> list[EvaluationResult]:
        authors = [author_id_of(item.context) for item in items]
        prepared = await self._with_history(items, authors)
        results = await self.base.evaluate_many(prepared, policy_ids)
        await self._after(items, authors, results)
        return results

    async def _with_history(self, items: Sequence[EvalItem], authors: list[str | None]) -> Sequence[EvalItem]:
        history = self.stages.history
        wanted = {a for a in authors if a is not None}
        if history is None or not wanted:
            return items
        snapshots: dict[str, dict[str, Any]]
        try:
            snapshots = await history.snapshot(wanted)
        except Exception as exc:
            self.stages.metrics.history_failures.labels("read").inc()
            log.error("author history read failed, evaluating without it: %s: %s", type(exc).__name__, exc)
            down = {"history_unavailable": f"{type(exc).__name__}: {exc}"}
            snapshots = dict.fromkeys(wanted, down)
        return [
            EvalItem(item.text, item.id, merge_author(item.context, snapshots[a])) if a is not None else item
            for item, a in zip(items, authors, strict=True)
        ]

    async def _after(
        self, items: Sequence[EvalItem], authors: list[str | None], results: list[EvaluationResult]
    ) -> None:
        now = time.time()
        history = self.stages.history
        if history is not None:
            events = []
            for item, author, result in zip(items, authors, results, strict=True):
                clauses = violations_of(result) if author is not None else ()
                if author is not None and clauses:
                    events.append(ViolationEvent(author, item.id or uuid.uuid4().hex, now, clauses))
            if events:
                try:
                    await history.record(events)
                except Exception as exc:
                    self.stages.metrics.history_failures.labels("write").inc()
                    log.error(
                        "author history write failed, %d strike(s) lost: %s: %s",
                        len(events),
                        type(exc).__name__,
                        exc,
                    )
        recorder = self.stages.recorder
        if recorder is not None:
            at = datetime.fromtimestamp(now, tz=UTC)
            if self.paced:
                await recorder.room()
            recorder.submit(
                [Decided(r, item.text, self.source, a, at) for item, a, r in zip(items, authors, results, strict=True)]
            )
