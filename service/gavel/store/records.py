"""What the verdict store keeps and what a reader asks of it.

A stored record is the evaluation result (`EvaluationResult`: decision, per-policy and
per-clause verdicts with evidence and exceptions, models) plus who, when and where it came from;
it is built from the result's own dump, so a field added to the result models is stored
without a change here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from gavel.engine.results import EvaluationResult, ModelInfo, PolicyResult

StoreText = Literal["hash", "text", "none"]
BUCKETS: dict[str, int] = {"minute": 60, "hour": 3_600, "day": 86_400}


class StoredDecision(BaseModel):
    id: str = Field(description="the caller's post id, or the record's uid when the caller gave none")
    uid: str = Field(description="this record's own id (a post evaluated twice has two records)")
    created_at: datetime
    source: str = Field(description="http or worker")
    author_id: str | None = None
    action: str
    policies_violated: list[str]
    reasons: list[str] = Field(default_factory=list, description="why the decision is what it is (escalations)")
    models: list[ModelInfo]
    text: str | None = Field(default=None, description="only when the store keeps texts (store_text=text)")
    text_sha256: str | None = None
    timing_ms: float
    policies: list[PolicyResult]


def record_from(
    result: EvaluationResult,
    text: str,
    source: str,
    author_id: str | None,
    store_text: StoreText,
    now: datetime | None = None,
) -> StoredDecision:
    uid = uuid.uuid4().hex
    return StoredDecision.model_validate(
        {
            **result.model_dump(include={"policies", "models", "timing_ms"}),
            **result.decision.model_dump(),  # action, policies_violated, reasons
            "id": result.id or uid,
            "uid": uid,
            "created_at": now or datetime.now(UTC),
            "source": source,
            "author_id": author_id,
            "text": text if store_text == "text" else None,
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest() if store_text != "none" else None,
        }
    )


class ForReview(BaseModel):
    """A record the review queue wants, as the spool keeps it: why, and the post's text (the
    queue keeps it for reviewers whatever GAVEL_STORE_TEXT says), so the queue entry is made when
    the record reaches the database, outage or not."""

    record: StoredDecision
    review: str = Field(description="why the queue wants it: review, sample_allow, sample_remove")
    text: str


@dataclass(frozen=True)
class Recorded:
    """A record on its way through the spool, with what the review queue needs of it (if anything)."""

    record: StoredDecision
    review: ForReview | None = None

    def dump(self) -> str:
        return (self.review or self.record).model_dump_json()

    @staticmethod
    def load(body: str) -> Recorded:
        # a plain record, or the ForReview wrapper (whose first field is "record"; a record has none)
        if body.startswith('{"record":'):
            wrapped = ForReview.model_validate_json(body)
            return Recorded(wrapped.record, wrapped)
        return Recorded(StoredDecision.model_validate_json(body))


@dataclass(frozen=True)
class VerdictQuery:
    policy: str | None = None
    clause: str | None = None
    verdict: str | None = None
    author: str | None = None
    id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None  # the cursor: records older than this one
    limit: int = 50


@dataclass(frozen=True)
class Page:
    records: list[StoredDecision]
    next_seq: int | None


@dataclass(frozen=True)
class StatsRow:
    start: datetime
    policy_id: str
    clause_id: str
    verdict: str
    count: int


@dataclass(frozen=True)
class ActionRow:
    start: datetime
    action: str
    count: int


@dataclass(frozen=True)
class Stats:
    clauses: list[StatsRow]
    actions: list[ActionRow]


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, seq = raw.split(":", 1)
        if tag != "v1" or not seq.isdigit() or int(seq) >= 2**63:  # BIGINT range
            raise ValueError
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor this API gave out") from exc


def to_ms(t: datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)  # naive times in queries are UTC, like the stored ones
    return int(t.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
