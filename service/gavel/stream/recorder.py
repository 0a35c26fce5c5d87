"""Writes decisions to the verdict store from one background thread, in batches.

The hot path only appends to a bounded queue (no I/O, no await). A store that fails or falls
behind never costs an HTTP answer or a stream entry: the records are dropped, and the drop is
logged and counted (`gavel_store_records_total{outcome="dropped"}`), never silent.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from gavel.engine.results import EvaluationResult
from gavel.stream.metrics import StageMetrics
from gavel.stream.verdict_store import StoredDecision, StoreText, VerdictStore, record_from

log = logging.getLogger("gavel.store")

_STOP = object()
_LOG_EVERY_S = 10.0  # a dead store logs one line per interval, not one per record


@dataclass(frozen=True)
class Decided:
    """A decision as the hot path hands it over; the writer thread turns it into a record."""

    result: EvaluationResult
    text: str
    source: str
    author_id: str | None
    at: datetime


class VerdictRecorder:
    def __init__(
        self,
        store: VerdictStore,
        metrics: StageMetrics,
        store_text: StoreText = "hash",
        batch: int = 256,
        queue_size: int = 5_000,
        linger_s: float = 0.05,
        on_written: Callable[[Sequence[Decided], Sequence[StoredDecision]], None] | None = None,
    ) -> None:
        self.store = store
        self.store_text = store_text
        self.metrics = metrics
        self.batch = batch
        self.linger_s = linger_s
        self.on_written = on_written  # the review queue's hook: it sees each batch once stored
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._last_log = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        # restartable: an app whose lifespan runs twice (tests) closes and reuses its recorder
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gavel-verdict-recorder", daemon=True)
                self._thread.start()

    def submit(self, decided: Sequence[Decided]) -> None:
        """Never blocks: a full queue means the store is behind, and those records are dropped."""
        self._ensure_thread()
        for i, record in enumerate(decided):
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                self._dropped(len(decided) - i, "the store queue is full (the store is down or too slow)")
                return

    async def room(self, max_wait_s: float = 1.0) -> None:
        """Bulk producers (an NDJSON stream, the worker) call this after each batch: while the queue
        is over half full they wait, so they go at the store's pace instead of dropping records.
        Bounded, so a hung store slows them but never stalls them."""
        deadline = time.monotonic() + max_wait_s
        while self._queue.qsize() > self._queue.maxsize // 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def flush(self) -> None:
        """Wait until every submitted record is written (or dropped)."""
        await asyncio.to_thread(self._queue.join)

    def close(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None or not thread.is_alive():
            self.store.close()
            return
        self._queue.put(_STOP)
        thread.join(timeout_s)
        if thread.is_alive():
            log.error(
                "verdict recorder did not finish within %.0fs; records still queued are lost",
                timeout_s,
            )
        self.store.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._queue.task_done()
                return
            pending: list[Decided] = [first]  # type: ignore[list-item]
            stop = False
            deadline = time.monotonic() + self.linger_s
            while len(pending) < self.batch:
                try:
                    more = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                pending.append(more)  # type: ignore[arg-type]
            self._write(pending)
            for _ in range(len(pending) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                return

    def _write(self, pending: list[Decided]) -> None:
        try:
            records = [self._record(d) for d in pending]
        except Exception as exc:  # a result the store can't represent: a bug, but still only a lost record
            log.exception("verdict store: cannot build records")
            self._dropped(len(pending), f"{type(exc).__name__}: {exc}")
            return
        for attempt in (
            1,
            2,
        ):  # the second try gets a fresh connection (the store drops a broken one)
            try:
                self.store.write(records)
            except Exception as exc:
                self.metrics.store_failures.inc()
                if attempt == 2:
                    self._dropped(len(records), f"{type(exc).__name__}: {exc}")
                    return
                time.sleep(0.1)
            else:
                self.metrics.store_records.labels("written").inc(len(records))
                if self.on_written is not None:
                    self.on_written(pending, records)
                return

    def _record(self, d: Decided) -> StoredDecision:
        return record_from(d.result, d.text, d.source, d.author_id, self.store_text, d.at)

    def _dropped(self, n: int, why: str) -> None:
        self.metrics.store_records.labels("dropped").inc(n)
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S:
            self._last_log = now
            log.error("verdict store: %d record(s) dropped: %s", n, why)
