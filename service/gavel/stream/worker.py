"""The Redis Streams worker's loop: posts from a stream in, verdicts out, at least once.

Posts are entries of `input_stream` (fields `id`, `text`, optional `context` as JSON, optional
`policies` as a JSON list or comma-separated ids) read in the consumer group `consumer_group`.
Each result goes to `output_stream` (fields `id`, `result` = the /evaluate answer as JSON,
`entry` = the input entry id, `consumer`). `gavel worker` runs it (stream/worker_main.py).

What makes it lose nothing and duplicate nothing a reconnect could duplicate:
- the results (and dead letters) and the XACK of their input entries go in ONE MULTI/EXEC: they
  happen together or not at all, even when the process dies or the connection drops mid-write;
- after a (re)connection the worker first re-reads its own pending entries: whatever a lost
  reply delivered to it, or a write that did not happen left pending, is evaluated again, while
  what a write that did happen acknowledged is not (so no duplicate);
- redis-py's own silent retries are off: a command is never sent twice behind our back;
- entries left pending by a dead consumer are taken over with XAUTOCLAIM once idle for
  `reclaim_idle_ms`; so are entries this worker could not evaluate (a transient failure);
- an entry delivered more than `max_deliveries` times goes to `dead_stream` with the reason and is
  acknowledged; so does, at once, an entry that can never succeed (no text, bad JSON, too long...);
- a dropped connection (or Redis down at start) is retried with backoff until it is back, each
  attempt logged and counted; meanwhile /readyz answers 503 and the heartbeat goes on;
- SIGTERM/SIGINT stop reading; the batch in hand is finished, written and acknowledged first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gavel.engine.evaluator import EvalItem
from gavel.engine.results import EvaluationResult
from gavel.errors import GavelError, OverloadedError
from gavel.intake import Evaluates, Limits
from gavel.ops.backoff import backoff
from gavel.settings import Settings
from gavel.stream.metrics import StageMetrics
from gavel.stream.worker_entries import Entry, Job, Outcome, PermanentError, as_str, job_of

log = logging.getLogger("gavel.worker")

# what a dropped or refused connection raises (redis-py wraps socket errors in ConnectionError)
CONNECTION_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, ConnectionError)


@dataclass(frozen=True)
class WorkerConfig:
    input_stream: str = "gavel:posts"
    output_stream: str = "gavel:verdicts"
    dead_stream: str = "gavel:dead"
    group: str = "gavel"
    consumer: str = "worker"
    batch: int = 64
    block_ms: int = 1_000
    reclaim_idle_ms: int = 30_000
    max_deliveries: int = 3
    retry_max_s: float = 10.0
    limits: Limits = field(default_factory=Limits)
    policies: tuple[str, ...] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, consumer: str, policies: Sequence[str] | None = None) -> WorkerConfig:
        return cls(
            input_stream=settings.input_stream,
            output_stream=settings.output_stream,
            dead_stream=settings.dead_stream,
            group=settings.consumer_group,
            consumer=consumer,
            batch=settings.worker_batch,
            block_ms=settings.worker_block_ms,
            reclaim_idle_ms=settings.reclaim_idle_ms,
            max_deliveries=settings.max_deliveries,
            retry_max_s=settings.redis_retry_max_s,
            limits=Limits.from_settings(settings),
            policies=tuple(policies) if policies else None,
        )


class WorkerMetrics:
    """The worker's own metrics, on the registry of the stages' metrics: one /metrics shows both."""

    def __init__(self, stage: StageMetrics | None = None) -> None:
        stage = stage or StageMetrics()
        self.registry = stage.registry
        self.stream_entries = stage.stream_entries
        self.redis_reconnects = Counter(
            "gavel_worker_redis_reconnects_total",
            "Failed attempts to (re)connect to Redis",
            registry=self.registry,
        )
        self.redis_disconnects = Counter(
            "gavel_worker_redis_disconnects_total",
            "Redis connections lost while connected",
            registry=self.registry,
        )
        self.redis_connected = Gauge(
            "gavel_worker_redis_connected", "1 while the worker is connected to Redis", registry=self.registry
        )
        self.heartbeat = Gauge(
            "gavel_worker_heartbeat_timestamp_seconds",
            "Unix time of the worker loop's last beat",
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "gavel_worker_batch_seconds",
            "Time to evaluate, write and acknowledge one batch of entries",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )


@dataclass
class WorkerStats:
    evaluated: int = 0
    dead: int = 0
    retried: int = 0
    reclaimed: int = 0
    batches: int = 0
    reconnects: int = 0  # connection attempts that failed


class StreamWorker:
    def __init__(
        self,
        config: WorkerConfig,
        evaluator: Evaluates,
        client: aioredis.Redis,
        metrics: WorkerMetrics | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.config = config
        self.evaluator = evaluator
        self.client = client
        self.metrics = metrics or WorkerMetrics()
        self.stop = stop or asyncio.Event()
        self.stats = WorkerStats()
        self.connected = False
        self.disconnect_reason: str | None = "not connected yet"
        self.heartbeat = time.monotonic()  # the loop beats; /healthz says 503 when it stops
        self._reclaim_cursor = "0-0"
        self._next_reclaim = 0.0

    # --- the loop -------------------------------------------------------------------------

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.config.input_stream, self.config.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> WorkerStats:
        while not self.stop.is_set():
            try:
                await self._connect()
                await self._consume()
            except CONNECTION_ERRORS as exc:
                self._lost(exc)
        return self.stats

    async def _connect(self) -> None:
        """Ping and make the group, with backoff until Redis answers (or the worker is stopped)."""
        async for attempt in backoff(
            retry_on=CONNECTION_ERRORS,
            initial=0.1,
            maximum=self.config.retry_max_s,
            stop=self.stop,
            on_retry=self._on_retry,
        ):
            with attempt:
                self.beat()
                await self.client.ping()
                await self.ensure_group()
        if not self.connected:
            log.info("connected to Redis; reading %s in group %s", self.config.input_stream, self.config.group)
        self.connected, self.disconnect_reason = True, None
        self.metrics.redis_connected.set(1)

    def _on_retry(self, attempt: int, exc: BaseException, wait_s: float) -> None:
        self.stats.reconnects += 1
        self.metrics.redis_reconnects.inc()
        self._lost(exc)
        log.warning(
            "Redis unreachable (attempt %d): %s: %s; next try in %.2fs",
            attempt,
            type(exc).__name__,
            exc,
            wait_s,
            extra={"attempt": attempt, "wait_s": round(wait_s, 3)},
        )

    def _lost(self, exc: BaseException) -> None:
        if self.connected:
            self.metrics.redis_disconnects.inc()
            log.warning("lost the Redis connection: %s: %s", type(exc).__name__, exc)
        self.connected, self.disconnect_reason = False, f"{type(exc).__name__}: {exc}"
        self.metrics.redis_connected.set(0)

    def beat(self) -> None:
        self.heartbeat = time.monotonic()
        self.metrics.heartbeat.set_to_current_time()

    async def _consume(self) -> None:
        # Entries this consumer read and never acknowledged come first: after a restart, or a
        # reconnect (a lost XREADGROUP reply still delivered its entries to this consumer).
        while not self.stop.is_set():
            self.beat()
            own = await self._read("0")
            if not own:
                break
            await self.process(own)
        while not self.stop.is_set():
            self.beat()
            entries = await self._reclaim()
            if not entries:
                entries = await self._read(">")
            if entries:
                await self.process(entries)

    async def _read(self, from_id: str) -> list[Entry]:
        c = self.config
        block = c.block_ms if from_id == ">" else None
        reply: Any = await self.client.xreadgroup(
            c.group, c.consumer, {c.input_stream: from_id}, count=c.batch, block=block
        )
        # RESP2 answers [[stream, entries]], RESP3 may answer {stream: entries}
        streams = reply.items() if isinstance(reply, dict) else (reply or [])
        entries: list[Entry] = []
        for _stream, items in streams:
            for entry_id, fields in items:
                entries.append(Entry(as_str(entry_id), dict(fields or {})))
        if from_id != ">":
            await self._count_deliveries(entries)
        return entries

    async def _count_deliveries(self, entries: list[Entry]) -> None:
        """Neither XAUTOCLAIM nor a re-read of the pending list says how often an entry was
        delivered; XPENDING does."""
        if not entries:
            return
        c = self.config
        pending: Any = await self.client.xpending_range(
            c.input_stream,
            c.group,
            entries[0].entry_id,
            entries[-1].entry_id,
            len(entries) * 2,
            consumername=c.consumer,
        )
        counts = {as_str(p["message_id"]): int(p["times_delivered"]) for p in pending}
        for e in entries:
            e.deliveries = counts.get(e.entry_id, e.deliveries)

    async def _reclaim(self) -> list[Entry]:
        c = self.config
        now = time.monotonic()
        if now < self._next_reclaim:
            return []
        reply: Any = await self.client.xautoclaim(
            c.input_stream,
            c.group,
            c.consumer,
            c.reclaim_idle_ms,
            start_id=self._reclaim_cursor,
            count=c.batch,
        )
        cursor, claimed = as_str(reply[0]), reply[1]
        self._reclaim_cursor = cursor
        if cursor == "0-0":
            # a full pass over the pending list: look again when the next entries can be idle enough
            self._next_reclaim = now + max(c.reclaim_idle_ms / 2000, 0.05)
        entries = [Entry(as_str(eid), dict(fields or {})) for eid, fields in claimed if eid is not None]
        if not entries:
            return []
        await self._count_deliveries(entries)
        self.stats.reclaimed += len(entries)
        log.info("reclaimed %d pending entries from idle consumers", len(entries))
        return entries

    # --- one batch --------------------------------------------------------------------------

    async def process(self, entries: list[Entry]) -> None:
        c = self.config
        began = time.perf_counter()
        outcome = Outcome()
        jobs: list[Job] = []
        for e in entries:
            if not e.fields:
                outcome.gone.append(e.entry_id)
            elif e.deliveries > c.max_deliveries:
                outcome.dead[e.entry_id] = (
                    f"delivered {e.deliveries} times without being acknowledged "
                    f"(max {c.max_deliveries}): a worker may die on it"
                )
            else:
                try:
                    jobs.append(job_of(e, c.limits, c.policies, self.evaluator))
                except PermanentError as exc:
                    outcome.dead[e.entry_id] = str(exc)
        await self._evaluate(jobs, outcome)
        for e in entries:
            reason = outcome.retry.get(e.entry_id)
            if reason is not None and e.deliveries >= c.max_deliveries:
                outcome.dead[e.entry_id] = f"failed {e.deliveries} times; last: {reason}"
                del outcome.retry[e.entry_id]
        await self._write(entries, outcome)
        self.stats.batches += 1
        self.metrics.batch_seconds.observe(time.perf_counter() - began)

    async def _evaluate(self, jobs: list[Job], outcome: Outcome) -> None:
        groups: dict[tuple[str, ...] | None, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.policies, []).append(job)
        for policies, group in groups.items():
            try:
                results = await self._evaluate_many([j.item for j in group], policies)
            except Exception:  # one entry broke the batch: find which, keep the others
                for job in group:
                    await self._evaluate_one(job, outcome)
            else:
                for job, result in zip(group, results, strict=True):
                    outcome.results[job.entry.entry_id] = result

    async def _evaluate_many(self, items: list[EvalItem], policies: tuple[str, ...] | None) -> list[EvaluationResult]:
        # the model queue is full: wait (as long as it takes), it is not the entry's fault
        async for attempt in backoff(retry_on=OverloadedError, stop=self.stop):
            with attempt:
                self.beat()
                return await self.evaluator.evaluate_many(items, policies)
        raise AssertionError("unreachable: the last attempt raises")

    async def _evaluate_one(self, job: Job, outcome: Outcome) -> None:
        eid = job.entry.entry_id
        try:
            outcome.results[eid] = (await self._evaluate_many([job.item], job.policies))[0]
        except OverloadedError as exc:
            outcome.retry[eid] = f"overloaded: {exc}"
        except GavelError as exc:  # input the evaluator refuses: retrying won't change its mind
            outcome.dead[eid] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            log.exception("entry %s could not be evaluated", eid)
            outcome.retry[eid] = f"{type(exc).__name__}: {exc}"

    async def _write(self, entries: list[Entry], outcome: Outcome) -> None:
        """Results, dead letters and the acknowledgements in one MULTI/EXEC (see the docstring)."""
        c = self.config
        by_id = {e.entry_id: e for e in entries}
        pipe = self.client.pipeline(transaction=True)
        for eid, result in outcome.results.items():
            pipe.xadd(
                c.output_stream,
                {"id": result.id or eid, "result": result.model_dump_json(), "entry": eid, "consumer": c.consumer},
            )
        for eid, reason in outcome.dead.items():
            e = by_id[eid]
            fields = {as_str(k): v.decode("utf-8", "replace") for k, v in e.fields.items()}
            pipe.xadd(
                c.dead_stream,
                {
                    "entry": eid,
                    "id": fields.get("id", eid),
                    "reason": reason,
                    "deliveries": e.deliveries,
                    "consumer": c.consumer,
                    "fields": json.dumps(fields, ensure_ascii=False),
                },
            )
        done = [*outcome.results, *outcome.dead, *outcome.gone]
        if done:
            pipe.xack(c.input_stream, c.group, *done)
            await pipe.execute()  # all or nothing: a failure leaves every entry pending
        for eid, reason in outcome.dead.items():
            log.warning("entry %s dead-lettered: %s", eid, reason)
        for eid, reason in outcome.retry.items():
            log.warning(
                "entry %s failed (delivery %d), left pending for a retry: %s", eid, by_id[eid].deliveries, reason
            )
        self.stats.evaluated += len(outcome.results)
        self.stats.dead += len(outcome.dead)
        self.stats.retried += len(outcome.retry)
        self.metrics.stream_entries.labels("ok").inc(len(outcome.results))
        self.metrics.stream_entries.labels("dead").inc(len(outcome.dead))
        self.metrics.stream_entries.labels("retry").inc(len(outcome.retry))
