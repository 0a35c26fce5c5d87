"""Writes decisions to the verdict store from background threads, through the local spool.

The hot path only appends to a bounded in-memory queue (no I/O, no await). Two threads do the
rest: the spooler drains the queue into the durable spool as soon as records arrive (so a
SIGKILL loses only what arrived in the last few milliseconds), and the shipper moves the oldest
spooled records to the database in batches, retrying with backoff while the database is down.
A record the database refuses on its own is dead-lettered there with the reason; the rest of
its batch is written. Without a spool (`GAVEL_STORE_SPOOL_DIR=""`) the spooler writes to the
database itself and a failed batch is dropped. Every drop is logged and counted
(`gavel_store_records_total{outcome="dropped"}`), never silent.

The review queue (`ReviewFeed`) is fed by the shipper, not the hot path: which records it wants
is decided when they are spooled (and its post text kept with them in the spool), the queue
entries are made after the records are written, and the batch leaves the spool only once both
are done. So an outage delays queue entries like records, and never loses them.
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
from typing import Protocol, cast

from gavel.engine.results import EvaluationResult
from gavel.settings import Settings
from gavel.store.engine import StoreError, StoreUnavailable
from gavel.store.migrate import MigrationError
from gavel.store.records import ForReview, Recorded, StoredDecision, StoreText, record_from
from gavel.store.spool import Spool, SpoolError, spool_dir_for
from gavel.store.sql import DeadLetter, SqlVerdictStore, open_store
from gavel.stream.metrics import StageMetrics

log = logging.getLogger("gavel.store")

_STOP = object()
_LOG_EVERY_S = 10.0  # a dead store logs one line per interval, not one per record
_CHECK_IDLE_S = 5.0  # an idle shipper checks the database this often
_BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)  # between tries while the database is down


class ReviewFeed(Protocol):
    """The review queue as the recorder sees it (gavel.review.service.QueueHook)."""

    def wants(self, record: StoredDecision) -> str | None:
        """Why the queue wants this record (None: it does not). Called once, when it is spooled."""

    def __call__(self, wanted: Sequence[ForReview]) -> None:
        """Queue these (their records are written). Idempotent; raises StoreUnavailable while the
        database is down, and the batch is then handed on again later."""


@dataclass(frozen=True)
class Decided:
    """A decision as the hot path hands it over; the spooler thread turns it into a record."""

    result: EvaluationResult
    text: str
    source: str
    author_id: str | None
    at: datetime


class VerdictRecorder:
    def __init__(
        self,
        store: SqlVerdictStore,
        metrics: StageMetrics,
        store_text: StoreText = "hash",
        batch: int = 256,
        queue_size: int = 5_000,
        linger_s: float = 0.05,
        spool: Callable[[], Spool] | None = None,
        review: ReviewFeed | None = None,
    ) -> None:
        self.store = store
        self.review = review  # the review queue: fed with the records it wants once they are written
        self.store_text = store_text
        self.metrics = metrics
        self.batch = batch
        self.linger_s = linger_s
        self._open_spool = spool
        self.spool: Spool | None = None
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._last_log: dict[str, float] = {}
        self._lock = threading.Lock()
        self._spooled = threading.Condition()  # the shipper waits on it; notified on append and on stop
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._ensure_threads()

    def _ensure_threads(self) -> None:
        # restartable: an app whose lifespan runs twice (tests) closes and reuses its recorder
        with self._lock:
            if self._threads and all(t.is_alive() for t in self._threads):
                return
            self._stopping = False
            if self._open_spool is not None and self.spool is None:
                try:
                    self.spool = self._open_spool()
                    self.metrics.store_spooled.set(len(self.spool))
                except SpoolError as exc:  # no local disk: records still go straight to the database
                    log.error("verdict store: no spool, records written during an outage are dropped: %s", exc)
            targets = [self._spool_loop] + ([self._ship_loop] if self.spool is not None else [])
            self._threads = [threading.Thread(target=t, name=f"gavel-store-{t.__name__.strip('_')}", daemon=True)
                             for t in targets]
            for thread in self._threads:
                thread.start()

    def submit(self, decided: Sequence[Decided]) -> None:
        """Never blocks: a full queue means the recorder is behind, and those records are dropped."""
        self._ensure_threads()
        for i, record in enumerate(decided):
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                self._dropped(len(decided) - i, "the store queue is full (the recorder is behind)")
                return

    async def room(self, max_wait_s: float = 1.0) -> None:
        """Bulk producers (an NDJSON stream, the worker) call this after each batch: while the queue
        is over half full they wait, so they go at the recorder's pace instead of dropping records.
        Bounded, so a hung store slows them but never stalls them."""
        deadline = time.monotonic() + max_wait_s
        while self._queue.qsize() > self._queue.maxsize // 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every submitted record is in the database, dead-lettered or dropped (True),
        or `timeout_s` passed (False: the database is down and they wait in the spool)."""
        await asyncio.to_thread(self._queue.join)
        deadline = time.monotonic() + timeout_s
        while self.spool is not None and len(self.spool) and time.monotonic() < deadline:
            with self._spooled:
                self._spooled.notify_all()
            await asyncio.sleep(0.01)
        return self.spool is None or not len(self.spool)

    def close(self, timeout_s: float = 10.0) -> None:
        """Spool what is queued, ship what the database takes within `timeout_s`; the rest stays
        in the spool for the next start."""
        with self._lock:
            threads, self._threads = self._threads, []
        if threads and threads[0].is_alive():
            self._queue.put(_STOP)
            threads[0].join(timeout_s)
        with self._spooled:
            self._stopping = True
            self._spooled.notify_all()
        for thread in threads[1:]:
            thread.join(timeout_s)
        if any(t.is_alive() for t in threads):
            log.error("verdict recorder did not finish within %.0fs", timeout_s)
        if self.spool is not None:
            if len(self.spool):
                log.warning("verdict store: %d record(s) stay in the spool %s for the next start",
                            len(self.spool), self.spool.path)
            self.spool.close()
            self.spool = None
        self.store.close()

    # --- the spooler: queue -> spool (or -> database without a spool) --------------------------

    def _spool_loop(self) -> None:
        while True:
            first = self._queue.get()
            pending: list[object] = [first]
            # without a spool, linger a little so database transactions carry full batches
            deadline = time.monotonic() + (0 if self.spool is not None else self.linger_s)
            while first is not _STOP and len(pending) < self.batch:
                try:
                    more = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    break
                pending.append(more)
                if more is _STOP:
                    break
            decided = [d for d in pending if isinstance(d, Decided)]
            if decided:
                self._take(decided)
            for _ in pending:
                self._queue.task_done()
            if pending[-1] is _STOP:
                return

    def _take(self, decided: list[Decided]) -> None:
        try:
            records = [record_from(d.result, d.text, d.source, d.author_id, self.store_text, d.at) for d in decided]
        except Exception as exc:  # a result the store can't represent: a bug, but still only a lost record
            log.exception("verdict store: cannot build records")
            self._dropped(len(decided), f"{type(exc).__name__}: {exc}")
            return
        recorded = [Recorded(r, self._for_review(d, r)) for d, r in zip(decided, records, strict=True)]
        if self.spool is None:
            self._write_direct(recorded)
            return
        try:
            kept = self.spool.append([r.dump() for r in recorded])
        except Exception as exc:  # the local disk failed: write straight through rather than lose them
            self._throttled_log("spool", "verdict spool append failed, writing directly: %s: %s",
                                type(exc).__name__, exc)
            self._write_direct(recorded)
            return
        if kept < len(records):
            self._dropped(len(records) - kept, f"the spool is full ({self.spool.max_records} records)")
        self.metrics.store_spooled.set(len(self.spool))
        with self._spooled:
            self._spooled.notify_all()

    def _for_review(self, decided: Decided, record: StoredDecision) -> ForReview | None:
        if self.review is None:
            return None
        try:
            why = self.review.wants(record)
        except Exception:  # the queue's own bug costs its entry, never the record
            log.exception("review queue: cannot tell whether record %s is wanted", record.uid)
            return None
        return ForReview(record=record, review=why, text=decided.text) if why is not None else None

    def _hand_on(self, recorded: Sequence[Recorded]) -> bool:
        """Queue the written records the review queue wants. False: the database is down again,
        hand them on later (the spooled batch stays)."""
        wanted = [r.review for r in recorded if r.review is not None]
        if self.review is None or not wanted:
            return True
        try:
            self.review(wanted)
        except (StoreUnavailable, MigrationError):
            return False
        except Exception:  # a bug in the queue: logged loudly, and the records are not held back for it
            log.exception("review queue: %d item(s) not queued", len(wanted))
        return True

    def _write_direct(self, recorded: list[Recorded]) -> None:
        records = [r.record for r in recorded]
        for attempt in (1, 2):  # the second try gets a fresh connection (pre-ping replaces a broken one)
            try:
                self._written(len(records), self.store.write(records))
                if not self._hand_on(recorded):
                    log.error("review queue: the store went down after writing; %d item(s) not queued",
                              sum(r.review is not None for r in recorded))
                return
            except Exception as exc:
                self.metrics.store_failures.inc()
                if attempt == 2:
                    self._dropped(len(records), str(exc) if isinstance(exc, StoreError) else type(exc).__name__)
                    return
                time.sleep(0.1)

    # --- the shipper: spool -> database ------------------------------------------------------

    def _ship_loop(self) -> None:
        spool = self.spool
        assert spool is not None
        failures = 0
        last_check = 0.0
        while True:
            with self._spooled:
                if not len(spool) and not self._stopping:
                    self._spooled.wait(timeout=1.0)
                stopping = self._stopping
            if len(spool):
                ok = self._ship_once(spool)
            elif stopping:
                return
            elif failures or time.monotonic() - last_check >= _CHECK_IDLE_S:
                # nothing to ship: still connect (and migrate) early, and keep /readyz's store state true
                last_check = time.monotonic()
                ok = self._check()
            else:
                continue
            if ok:
                failures = 0
                continue
            if stopping:
                return
            failures += 1
            with self._spooled:  # back off, but wake for close()
                if not self._stopping:
                    self._spooled.wait(timeout=_BACKOFF_S[min(failures, len(_BACKOFF_S)) - 1])

    def _check(self) -> bool:
        try:
            self.store.ping()
        except (StoreUnavailable, MigrationError):
            self._throttled_log("down", "verdict store unreachable (%s)", self.store.last_failure)
            return False
        return True

    def _ship_once(self, spool: Spool) -> bool:
        rows = spool.oldest(self.batch)
        if not rows:
            return True
        recorded = [Recorded.load(body) for _, body in rows]
        records = [r.record for r in recorded]
        try:
            dead = self.store.write(records)
        except (StoreUnavailable, MigrationError):
            self.metrics.store_failures.inc()
            self._throttled_log("down", "verdict store unreachable (%s); %d record(s) wait in the spool",
                                self.store.last_failure, len(spool))
            return False
        except StoreError as exc:  # refused, and its dead letter too: set it aside locally, go on
            self.metrics.store_failures.inc()
            for seq, _ in rows:
                spool.bury(seq, str(exc))
            self._dropped(len(rows), str(exc))
            return True
        if not self._hand_on(recorded):  # written, not queued: the batch stays; both writes are idempotent
            self.metrics.store_failures.inc()
            self._throttled_log("down", "verdict store unreachable (%s) while queueing for review; %d record(s) "
                                "wait in the spool", self.store.last_failure, len(spool))
            return False
        spool.remove(rows[-1][0])
        self.metrics.store_spooled.set(len(spool))
        self._written(len(records), dead)
        return True

    # --- accounting --------------------------------------------------------------------------

    def _written(self, n: int, dead: list[DeadLetter]) -> None:
        self.metrics.store_records.labels("written").inc(n - len(dead))
        if dead:
            self.metrics.store_records.labels("dead_lettered").inc(len(dead))
            for letter in dead:
                log.error("verdict store refused record %s (post id %r), kept in dead_letters: %s",
                          letter.record.uid, letter.record.id[:64], letter.reason)

    def _dropped(self, n: int, why: str) -> None:
        self.metrics.store_records.labels("dropped").inc(n)
        self._throttled_log("dropped", "verdict store: %d record(s) dropped: %s", n, why)

    def _throttled_log(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last_log.get(key, 0.0) >= _LOG_EVERY_S:
            self._last_log[key] = now
            log.error(message, *args)


def open_verdict_store(settings: Settings) -> SqlVerdictStore | None:
    """The store of `settings.store_url` (None without one): the one engine of the process, which
    the review console shares. Connects only when the store is required (`store_required`): then
    an unreachable database refuses the start (StoreError, one line)."""
    if not settings.store_url:
        return None
    if settings.store_text not in ("hash", "text", "none"):
        raise ValueError(f"store_text must be hash, text or none, not {settings.store_text!r}")
    store = open_store(settings.store_url)
    if settings.store_required:
        try:
            store.ensure_schema()
        except StoreError as exc:
            store.close()
            raise StoreError(f"the verdict store is required (GAVEL_STORE_REQUIRED) but {exc}: "
                             f"{store.last_failure or ''}".rstrip(": ")) from None
    return store


def build_recorder(
    settings: Settings,
    metrics: StageMetrics,
    store: SqlVerdictStore | None = None,
    review: ReviewFeed | None = None,
) -> VerdictRecorder | None:
    """The recorder for `settings.store_url` (None without one), on `store` (default: a store
    opened by `open_verdict_store`)."""
    store = store or open_verdict_store(settings)
    if store is None or not settings.store_url:
        return None
    spool_dir, url, limit = settings.store_spool_dir, settings.store_url, settings.store_spool_max_records
    return VerdictRecorder(
        store,
        metrics,
        cast(StoreText, settings.store_text),
        settings.store_batch,
        settings.store_queue_size,
        spool=(lambda: Spool(spool_dir_for(spool_dir, url), limit)) if spool_dir is not None else None,
        review=review,
    )
