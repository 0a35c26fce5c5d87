"""The review console's objects for one process (engine, queue, keys), and the hook through which
recorded decisions enter the queue."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from gavel.auth.keys import KeyStore
from gavel.review.db import make_engine, migrate
from gavel.review.queue import Entry, ReviewQueue
from gavel.settings import Settings
from gavel.store.recorder import Decided
from gavel.store.records import StoredDecision

log = logging.getLogger("gavel.review")


@dataclass
class Review:
    engine: Engine
    queue: ReviewQueue
    keys: KeyStore
    settings: Settings

    def close(self) -> None:
        self.engine.dispose()


def open_review(settings: Settings, store_url: str | None = None) -> Review:
    """The review tables on `store_url` (default: the verdict store's), migrated to the newest."""
    url = store_url or settings.store_url
    if not url:
        raise ValueError("the review console needs a database: set GAVEL_STORE_URL")
    engine = make_engine(url)
    migrate(engine)
    return Review(engine, ReviewQueue(engine, settings.review_lease_s), KeyStore(engine), settings)


def build_review(settings: Settings) -> Review | None:
    """With a verdict store there are always keys (reads of verdicts need one); the queue is fed
    only while GAVEL_REVIEW_ENABLED."""
    if not settings.store_url:
        return None
    return open_review(settings)


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
    """Called by the verdict recorder's writer thread after a batch is stored. It keeps the post's
    text for reviewers whatever GAVEL_STORE_TEXT says (until `gavel review purge`). A failure is
    logged and costs only the queue entries, never the stored records."""

    def __init__(self, review: Review, draw: Callable[[], float] = random.random) -> None:
        self.review = review
        self.draw = draw

    def __call__(self, decided: Sequence[Decided], records: Sequence[StoredDecision]) -> None:
        s = self.review.settings
        entries = []
        for d, r in zip(decided, records, strict=True):
            reason = queue_reason(r.action, s.review_sample_allow, s.review_sample_remove, self.draw)
            if reason is None:
                continue
            entries.append(
                Entry(
                    record_uid=r.uid,
                    post_id=r.id,
                    author_id=r.author_id,
                    created_ms=int(r.created_at.timestamp() * 1000),
                    reason=reason,
                    action=r.action,
                    text=d.text,
                    policies=[p.model_dump() for p in r.policies],
                )
            )
        try:
            self.review.queue.enqueue(entries)
        except Exception:
            log.exception("review queue: %d item(s) not queued", len(entries))
