"""The review console's objects for one process (queue, keys) on the verdict store's engine, and
the feed through which recorded decisions enter the queue."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from gavel.auth.keys import KeyStore
from gavel.review.db import OnStore
from gavel.review.queue import Entry, ReviewQueue
from gavel.settings import Settings
from gavel.store.engine import StoreUnavailable, is_unavailable, reason
from gavel.store.records import ForReview, StoredDecision
from gavel.store.sql import SqlVerdictStore, open_store

log = logging.getLogger("gavel.review")


@dataclass
class Review(OnStore):
    """The review console on the verdict store: its engine (one pool), its lazy migration."""

    store: SqlVerdictStore
    queue: ReviewQueue
    keys: KeyStore
    settings: Settings

    def close(self) -> None:
        self.store.close()


def review_on(store: SqlVerdictStore, settings: Settings) -> Review:
    """The review console on `store`; connects nothing (the first use migrates, with the store)."""
    return Review(store, ReviewQueue(store, settings.review_lease_s), KeyStore(store), settings)


def open_review(settings: Settings, store_url: str | None = None) -> Review:
    """For the commands (`gavel keys`, `gavel review`, `gavel cases`): the review tables on
    `store_url` (default: the verdict store's), migrated now. Raises StoreError when the database
    cannot be reached or migrated."""
    url = store_url or settings.store_url
    if not url:
        raise ValueError("the review console needs a database: set GAVEL_STORE_URL")
    store = open_store(url)
    try:
        store.ensure_schema()
    except Exception:
        store.close()
        raise
    return review_on(store, settings)


def queue_reason(action: str, sample_allow: float, sample_remove: float, draw: Callable[[], float]) -> str | None:
    """Why a decision enters the queue, or None: every `review`, and a random share of the others
    for quality checks."""
    if action == "review":
        return "review"
    if action == "allow" and sample_allow > 0 and draw() < sample_allow:
        return "sample_allow"
    if action == "remove" and sample_remove > 0 and draw() < sample_remove:
        return "sample_remove"
    return None


class QueueHook:
    """The verdict recorder's review feed (`gavel.store.recorder.ReviewFeed`): it chooses the
    records to queue when they are spooled, and queues them once the recorder has written them.
    It keeps the post's text for reviewers whatever GAVEL_STORE_TEXT says (until `gavel review
    purge`)."""

    def __init__(self, review: Review, draw: Callable[[], float] = random.random) -> None:
        self.review = review
        self.draw = draw

    def wants(self, record: StoredDecision) -> str | None:
        s = self.review.settings
        return queue_reason(record.action, s.review_sample_allow, s.review_sample_remove, self.draw)

    def __call__(self, wanted: Sequence[ForReview]) -> None:
        entries = [
            Entry(
                record_uid=w.record.uid,
                post_id=w.record.id,
                author_id=w.record.author_id,
                created_ms=int(w.record.created_at.timestamp() * 1000),
                reason=w.review,
                action=w.record.action,
                text=w.text,
                policies=[p.model_dump(mode="json") for p in w.record.policies],
            )
            for w in wanted
        ]
        self._enqueue(entries)

    def _enqueue(self, entries: Sequence[Entry]) -> None:
        try:
            self.review.queue.enqueue(entries)
        except (SQLAlchemyError, OSError) as exc:
            if is_unavailable(exc):
                raise StoreUnavailable("the verdict store is unreachable") from exc
            if len(entries) > 1:
                # refused for a reason of its own (PostgreSQL cannot keep a NUL in a text): one by
                # one, so a bad entry costs only itself
                for entry in entries:
                    self._enqueue([entry])
                return
            log.error("review queue: record %s (post id %r) not queued: %s", entries[0].record_uid,
                      entries[0].post_id[:64], reason(exc))
