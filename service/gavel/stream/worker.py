"""`gavel worker`: posts from a Redis stream in, verdicts out, at least once.

Posts are entries of `input_stream` (fields `id`, `text`, optional `context` as JSON, optional
`policies` as a JSON list or comma-separated ids) read in the consumer group `consumer_group`.
Each result goes to `output_stream` (fields `id`, `result` = the /evaluate answer as JSON,
`entry` = the input entry id, `consumer`).

What makes it lose nothing:
- results (and dead letters) are XADDed, in one pipeline, before the input entries are XACKed in
  a second one: a crash between the two redelivers the entries (a duplicate, never a loss);
- entries left pending by a dead consumer are taken over with XAUTOCLAIM once idle for
  `reclaim_idle_ms`; so are entries this worker could not evaluate (a transient failure);
- an entry delivered more than `max_deliveries` times (workers keep dying on it, or it keeps
  failing) goes to `dead_stream` with the reason and is acknowledged; so does, at once, an entry
  that can never succeed (no text, bad JSON, too long, an unknown policy);
- SIGTERM/SIGINT stop reading; the batch in hand is finished, written and acknowledged first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as aioredis
import typer
from redis.exceptions import ResponseError

from gavel.engine.evaluator import EvalItem, Evaluator
from gavel.engine.limits import context_problem
from gavel.engine.results import EvaluationResult
from gavel.errors import GavelError, OverloadedError
from gavel.ops.reload import PolicyReloader
from gavel.runtime import Runtime, build_runtime
from gavel.settings import Settings
from gavel.stream.metrics import StageMetrics
from gavel.stream.stateful import StatefulEvaluator, build_stages

log = logging.getLogger("gavel.worker")


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
    max_text_chars: int = 10_000
    max_context_keys: int = 256
    max_context_depth: int = 8
    policies: tuple[str, ...] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, policies: Sequence[str] | None = None) -> WorkerConfig:
        return cls(
            input_stream=settings.input_stream,
            output_stream=settings.output_stream,
            dead_stream=settings.dead_stream,
            group=settings.consumer_group,
            consumer=settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}",
            batch=settings.worker_batch,
            block_ms=settings.worker_block_ms,
            reclaim_idle_ms=settings.reclaim_idle_ms,
            max_deliveries=settings.max_deliveries,
            max_text_chars=settings.max_text_chars,
            max_context_keys=settings.max_context_keys,
            max_context_depth=settings.max_context_depth,
            policies=tuple(policies) if policies else None,
        )


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


@dataclass
class WorkerStats:
    evaluated: int = 0
    dead: int = 0
    retried: int = 0
    reclaimed: int = 0
    batches: int = 0


class PermanentError(Exception):
    """An entry that no retry can fix: it goes to the dead-letter stream at once."""


@dataclass
class _Outcome:
    results: dict[str, EvaluationResult] = field(default_factory=dict)  # entry id -> result
    dead: dict[str, str] = field(default_factory=dict)  # entry id -> reason
    retry: dict[str, str] = field(default_factory=dict)  # entry id -> reason (left pending)
    gone: list[str] = field(default_factory=list)  # deleted from the stream while pending: just ack


class StreamWorker:
    def __init__(
        self,
        config: WorkerConfig,
        evaluator: Evaluator,
        client: aioredis.Redis,
        metrics: StageMetrics | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.config = config
        self.evaluator = evaluator
        self.client = client
        self.metrics = metrics or StageMetrics()
        self.stop = stop or asyncio.Event()
        self.stats = WorkerStats()
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
        await self.ensure_group()
        # Entries this consumer name read before a restart and never acknowledged come first.
        while not self.stop.is_set():
            own = await self._read("0")
            if not own:
                break
            await self.process(own)
        while not self.stop.is_set():
            entries = await self._reclaim()
            if not entries:
                entries = await self._read(">")
            if entries:
                await self.process(entries)
        return self.stats

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
                entries.append(Entry(_s(entry_id), dict(fields or {})))
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
        counts = {_s(p["message_id"]): int(p["times_delivered"]) for p in pending}
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
        cursor, claimed = _s(reply[0]), reply[1]
        self._reclaim_cursor = cursor
        if cursor == "0-0":
            # a full pass over the pending list: look again when the next entries can be idle enough
            self._next_reclaim = now + max(c.reclaim_idle_ms / 2000, 0.05)
        entries = [Entry(_s(eid), dict(fields or {})) for eid, fields in claimed if eid is not None]
        if not entries:
            return []
        await self._count_deliveries(entries)
        self.stats.reclaimed += len(entries)
        log.info("reclaimed %d pending entries from idle consumers", len(entries))
        return entries

    # --- one batch --------------------------------------------------------------------------

    async def process(self, entries: list[Entry]) -> None:
        c = self.config
        outcome = _Outcome()
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
                    jobs.append(self._job(e))
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

    def _job(self, e: Entry) -> Job:
        c = self.config
        f = e.fields
        post_id = _text(f, b"id") or e.entry_id
        text = _text(f, b"text")
        if text is None:
            raise PermanentError("missing field 'text'")
        if not text:
            raise PermanentError("text: must not be empty")
        if len(text) > c.max_text_chars:
            raise PermanentError(f"text: {len(text)} characters exceed the limit of {c.max_text_chars}")
        context: dict[str, Any] = {}
        raw_context = _text(f, b"context")
        if raw_context:
            try:
                loaded = json.loads(raw_context)
            except json.JSONDecodeError as exc:
                raise PermanentError(f"context: not valid JSON: {exc.msg} at column {exc.colno}") from exc
            if not isinstance(loaded, dict):
                raise PermanentError(f"context: must be a JSON object, not {type(loaded).__name__}")
            problem = context_problem(loaded, c.max_context_keys, c.max_context_depth)
            if problem:
                raise PermanentError(f"context: {problem}")
            context = loaded
        policies = c.policies
        raw_policies = _text(f, b"policies")
        if raw_policies:
            policies = _policy_ids(raw_policies)
            try:
                self.evaluator.select(policies)
            except GavelError as exc:
                raise PermanentError(f"policies: {exc}") from exc
        return Job(e, EvalItem(text, post_id, context), policies)

    async def _evaluate(self, jobs: list[Job], outcome: _Outcome) -> None:
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
        delay = 0.05
        while True:
            try:
                return await self.evaluator.evaluate_many(items, policies)
            except OverloadedError:
                if self.stop.is_set():
                    raise
                await asyncio.sleep(delay)  # the model queue is full: wait, it is not the entry's fault
                delay = min(delay * 2, 2.0)

    async def _evaluate_one(self, job: Job, outcome: _Outcome) -> None:
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

    async def _write(self, entries: list[Entry], outcome: _Outcome) -> None:
        c = self.config
        by_id = {e.entry_id: e for e in entries}
        pipe = self.client.pipeline(transaction=False)
        for eid, result in outcome.results.items():
            pipe.xadd(
                c.output_stream,
                {
                    "id": result.id or eid,
                    "result": result.model_dump_json(),
                    "entry": eid,
                    "consumer": c.consumer,
                },
            )
        for eid, reason in outcome.dead.items():
            e = by_id[eid]
            fields = {_s(k): v.decode("utf-8", "replace") for k, v in e.fields.items()}
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
            log.warning("entry %s dead-lettered: %s", eid, reason)
        if len(pipe):
            await pipe.execute()  # raises if any XADD failed: then nothing is acknowledged
        done = [*outcome.results, *outcome.dead, *outcome.gone]
        if done:
            await self.client.xack(c.input_stream, c.group, *done)
        for eid, reason in outcome.retry.items():
            log.warning(
                "entry %s failed (delivery %d), left pending for a retry: %s",
                eid,
                by_id[eid].deliveries,
                reason,
            )
        self.stats.evaluated += len(outcome.results)
        self.stats.dead += len(outcome.dead)
        self.stats.retried += len(outcome.retry)
        self.metrics.stream_entries.labels("ok").inc(len(outcome.results))
        self.metrics.stream_entries.labels("dead").inc(len(outcome.dead))
        self.metrics.stream_entries.labels("retry").inc(len(outcome.retry))


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _text(fields: dict[bytes, bytes], name: bytes) -> str | None:
    raw = fields.get(name)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PermanentError(f"{name.decode()}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _policy_ids(raw: str) -> tuple[str, ...]:
    if raw.lstrip().startswith("["):
        try:
            ids = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PermanentError(f"policies: not valid JSON: {exc.msg}") from exc
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise PermanentError("policies: must be a list of policy ids")
        return tuple(ids)
    return tuple(p.strip() for p in raw.split(",") if p.strip())


# --- running it -----------------------------------------------------------------------------


async def serve_worker(
    settings: Settings,
    *,
    policies: Sequence[str] | None = None,
    runtime: Runtime | None = None,
    stop: asyncio.Event | None = None,
) -> WorkerStats:
    """Build everything from settings, run until `stop` (or SIGTERM/SIGINT), release everything."""
    runtime = runtime or build_runtime(settings)
    stages = build_stages(settings)
    evaluator = StatefulEvaluator(runtime.evaluator, stages, source="worker", paced=True)
    evaluator.select(policies)  # a worker started with an unknown policy fails now, not per entry
    config = WorkerConfig.from_settings(settings, policies)
    stop = stop or asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    client = aioredis.Redis.from_url(settings.redis_url)
    hub = runtime.hub
    start = getattr(hub, "start", None)
    if start is not None:
        await start()
    worker = StreamWorker(config, evaluator, client, stages.metrics, stop)
    # the worker follows policy changes like the API: SIGHUP, and the directory when asked to watch it
    reloader = PolicyReloader(runtime.registry)
    if threading.current_thread() is threading.main_thread():
        reloader.install_sighup()
    if settings.watch_policies:
        reloader.start_watching(runtime.registry.policy_dir)
    log.info("worker %s reading %s in group %s", config.consumer, config.input_stream, config.group)
    try:
        return await worker.run()
    finally:
        await reloader.stop()
        close = getattr(hub, "close", None)
        if close is not None:
            await close()
        await stages.close()
        await client.aclose()
        s = worker.stats
        log.info(
            "worker %s stopped: %d evaluated, %d dead-lettered, %d left for retry, %d reclaimed",
            config.consumer,
            s.evaluated,
            s.dead,
            s.retried,
            s.reclaimed,
        )


def run_worker(settings: Settings, *, policies: Sequence[str] | None = None, runtime: Runtime | None = None) -> None:
    """What `gavel worker` calls: run until SIGTERM/SIGINT."""
    asyncio.run(serve_worker(settings, policies=policies, runtime=runtime))


def worker_command(
    redis: Annotated[str | None, typer.Option("--redis", help="redis://host:port/db (GAVEL_REDIS_URL)")] = None,
    input_stream: Annotated[str | None, typer.Option("--input", help="stream of posts (default gavel:posts)")] = None,
    output_stream: Annotated[
        str | None, typer.Option("--output", help="stream of verdicts (default gavel:verdicts)")
    ] = None,
    dead_stream: Annotated[str | None, typer.Option("--dead", help="dead-letter stream (default gavel:dead)")] = None,
    group: Annotated[str | None, typer.Option("--group", help="consumer group (default gavel)")] = None,
    consumer: Annotated[str | None, typer.Option("--consumer", help="consumer name (default host-pid)")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="entries per read (default 64)")] = None,
    block_ms: Annotated[int | None, typer.Option("--block-ms", help="wait for new entries (default 1000)")] = None,
    reclaim_idle_ms: Annotated[
        int | None,
        typer.Option("--reclaim-idle-ms", help="take over entries pending this long (default 30000)"),
    ] = None,
    max_deliveries: Annotated[
        int | None,
        typer.Option("--max-deliveries", help="deliveries before the dead-letter stream (default 3)"),
    ] = None,
    policies: Annotated[str | None, typer.Option("--policies", help="comma-separated policy ids (default all)")] = None,
    policy_dir: Annotated[Path | None, typer.Option("--policy-dir", help="directory of policy YAML files")] = None,
    models: Annotated[str | None, typer.Option("--models", help="models to load; '' for none")] = None,
    store_url: Annotated[str | None, typer.Option("--store-url", help="verdict store URL (default none)")] = None,
    history: Annotated[str | None, typer.Option("--history", help="author history: memory, redis, none")] = None,
) -> None:
    """Evaluate posts from a Redis stream (consumer group, at least once) until SIGTERM/SIGINT."""
    given: dict[str, Any] = {
        "redis_url": redis,
        "input_stream": input_stream,
        "output_stream": output_stream,
        "dead_stream": dead_stream,
        "consumer_group": group,
        "consumer_name": consumer,
        "worker_batch": batch,
        "worker_block_ms": block_ms,
        "reclaim_idle_ms": reclaim_idle_ms,
        "max_deliveries": max_deliveries,
        "policy_dir": policy_dir,
        "models": models,
        "store_url": store_url,
        "history_backend": history,
    }
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ids = [p.strip() for p in policies.split(",") if p.strip()] if policies else None
    try:
        run_worker(settings, policies=ids)
    except GavelError as exc:
        typer.echo(f"gavel worker: {exc}", err=True)
        raise typer.Exit(2) from exc


if __name__ == "__main__":
    typer.run(worker_command)
