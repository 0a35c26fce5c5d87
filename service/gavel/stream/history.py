"""Author history: per-author strikes and violations per clause over sliding windows.

One interface, two stores (Bluesky automod's habit): `MemoryAuthorHistory` for tests and single
processes, `RedisAuthorHistory` for several API processes and workers. Both are bounded: an
author id over `max_author_id_bytes` (UTF-8) is never kept nor looked up (its snapshot says
`history_unavailable`), and the in-memory store holds at most `max_authors` authors, evicting
the least recently seen. Policies read the snapshot
through context signals (`author.strikes`, `author.violations_24h`, `author.violations.<p>.<c>`).

A strike is one post with at least one `violates` clause; a violation is one such clause. Both are
keyed by the post's id, so a post evaluated twice (a redelivered stream entry) counts once.
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

from gavel.engine.results import EvaluationResult, Verdict

# Sliding windows reported as `violations_<name>`: violating posts in the last N seconds.
DEFAULT_WINDOWS: dict[str, int] = {"1h": 3_600, "24h": 86_400, "7d": 604_800}

_SEP = "\x1f"  # between clause key and post key in a Redis member; never in a clause id
MAX_AUTHOR_ID_BYTES = 256


@dataclass(frozen=True)
class ViolationEvent:
    """One post that violated: who wrote it, when, and which `policy.clause` keys it violated."""

    author_id: str
    post_key: str
    at: float
    clauses: tuple[str, ...]


class AuthorHistory(Protocol):
    async def snapshot(self, author_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The history of each author, shaped as `context["author"]`; unknown authors get zeros."""
        ...

    async def record(self, events: Sequence[ViolationEvent]) -> None: ...

    async def close(self) -> None: ...


def violations_of(result: EvaluationResult) -> tuple[str, ...]:
    return tuple(
        f"{p.policy_id}.{c.clause_id}" for p in result.policies for c in p.clauses if c.verdict is Verdict.VIOLATES
    )


def author_id_of(context: Mapping[str, Any]) -> str | None:
    value = context.get("author_id")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def merge_author(context: Mapping[str, Any], snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """`context["author"]` from the store, with whatever the caller already put there winning
    (a replay or a caller with better data must be able to say `author.strikes` itself)."""
    given = context.get("author")
    if given is not None and not isinstance(given, Mapping):
        return dict(context)
    author = dict(snapshot)
    author.update(given or {})
    return {**context, "author": author}


def too_long(author_id: str, max_bytes: int) -> bool:
    # a cheap bound first: a str of n code points is at most 4n UTF-8 bytes, at least n
    return len(author_id) > max_bytes or (len(author_id) * 4 > max_bytes and len(author_id.encode()) > max_bytes)


def _refused(windows: Mapping[str, int], max_bytes: int) -> dict[str, Any]:
    out = _shape(0, dict.fromkeys(windows, 0), {})
    out["history_unavailable"] = f"author_id is longer than {max_bytes} bytes; no history is kept for it"
    return out


def _shape(strikes: int, windows: dict[str, int], per_clause: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"strikes": strikes}
    out.update({f"violations_{name}": n for name, n in windows.items()})
    out["violations"] = per_clause
    return out


# --- in memory ----------------------------------------------------------------------------------


@dataclass
class _AuthorLog:
    """One author's violating posts in time order, with per-clause counts kept up to date so a
    snapshot costs O(log n), not a walk over every event."""

    events: deque[tuple[float, str]] = field(default_factory=deque)  # (time, post key), time order
    clauses: dict[str, tuple[str, ...]] = field(default_factory=dict)  # post key -> violated clauses
    counts: dict[str, int] = field(default_factory=dict)  # clause key -> posts

    def add(self, at: float, post_key: str, clauses: tuple[str, ...]) -> None:
        self.events.append((at, post_key))
        self.clauses[post_key] = clauses
        for key in clauses:
            self.counts[key] = self.counts.get(key, 0) + 1

    def drop_oldest(self) -> None:
        _, post_key = self.events.popleft()
        for key in self.clauses.pop(post_key, ()):
            left = self.counts[key] - 1
            if left:
                self.counts[key] = left
            else:
                del self.counts[key]

    def since(self, t: float) -> int:
        return len(self.events) - bisect.bisect_right(self.events, t, key=lambda e: e[0])


class MemoryAuthorHistory:
    """Per-process history: deques pruned by time; a global deque finds the authors to prune; an
    LRU order over authors bounds how many are held."""

    def __init__(
        self,
        retention_s: float,
        max_events: int = 1_000,
        windows: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        max_authors: int = 100_000,
        max_author_id_bytes: int = MAX_AUTHOR_ID_BYTES,
    ) -> None:
        self.retention_s = retention_s
        self.max_events = max_events
        self.windows = dict(windows or DEFAULT_WINDOWS)
        self.clock = clock
        self.max_authors = max_authors
        self.max_author_id_bytes = max_author_id_bytes
        self._authors: OrderedDict[str, _AuthorLog] = OrderedDict()  # least recently seen first
        self._expiry: deque[tuple[float, str]] = deque()  # (time, author) of every event, time order
        self._live_events = 0  # events held by the logs; the expiry deque may hold stale ones too

    def __len__(self) -> int:
        return len(self._authors)

    async def snapshot(self, author_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        now = self.clock()
        self._expire(now)
        out: dict[str, dict[str, Any]] = {}
        for author in author_ids:
            if too_long(author, self.max_author_id_bytes):
                out[author] = _refused(self.windows, self.max_author_id_bytes)
                continue
            log = self._authors.get(author)
            if log is None:
                out[author] = _shape(0, dict.fromkeys(self.windows, 0), {})
                continue
            self._authors.move_to_end(author)
            windows = {name: log.since(now - secs) for name, secs in self.windows.items()}
            out[author] = _shape(len(log.events), windows, dict(log.counts))
        return out

    async def record(self, events: Sequence[ViolationEvent]) -> None:
        for ev in events:
            if too_long(ev.author_id, self.max_author_id_bytes):
                continue
            log = self._authors.get(ev.author_id)
            if log is None:
                log = self._authors[ev.author_id] = _AuthorLog()
                while len(self._authors) > self.max_authors:
                    _, evicted = self._authors.popitem(last=False)
                    self._live_events -= len(evicted.events)
            self._authors.move_to_end(ev.author_id)
            if ev.post_key in log.clauses:
                continue
            log.add(ev.at, ev.post_key, ev.clauses)
            self._live_events += 1
            self._expiry.append((ev.at, ev.author_id))
            while len(log.events) > self.max_events:
                log.drop_oldest()
                self._live_events -= 1
        self._expire(self.clock())
        if len(self._expiry) > 2 * self._live_events + 1_024:
            self._compact()

    def _compact(self) -> None:
        """Rebuild the expiry deque from the live logs: entries of evicted authors and of events
        dropped by `max_events` would otherwise keep their author ids alive until they expire."""
        live = sorted((at, author) for author, log in self._authors.items() for at, _ in log.events)
        self._expiry = deque(live)

    async def close(self) -> None:
        """Nothing to release; the counts stay (an app's lifespan may run again)."""

    def _expire(self, now: float) -> None:
        cutoff = now - self.retention_s
        while self._expiry and self._expiry[0][0] <= cutoff:
            _, author = self._expiry.popleft()
            log = self._authors.get(author)
            if log is None:
                continue
            while log.events and log.events[0][0] <= cutoff:
                log.drop_oldest()
                self._live_events -= 1
            if not log.events:
                del self._authors[author]


# --- in Redis -----------------------------------------------------------------------------------


class RedisAuthorHistory:
    """Two sorted sets per author scored by time: posts (strikes), `clause<US>post` (violations).

    Reads count by score, so expired members never count even before they are trimmed; writes
    trim by time and by rank and refresh EXPIRE, so an author who stops posting costs nothing.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        retention_s: float,
        max_events: int = 1_000,
        windows: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        max_author_id_bytes: int = MAX_AUTHOR_ID_BYTES,
    ) -> None:
        self.client = client
        self.max_author_id_bytes = max_author_id_bytes
        self.prefix = prefix
        self.retention_s = retention_s
        self.max_events = max_events
        self.windows = dict(windows or DEFAULT_WINDOWS)
        self.clock = clock

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str,
        retention_s: float,
        max_events: int = 1_000,
        max_author_id_bytes: int = MAX_AUTHOR_ID_BYTES,
    ) -> RedisAuthorHistory:
        client = aioredis.Redis.from_url(url)
        return cls(client, prefix, retention_s, max_events, max_author_id_bytes=max_author_id_bytes)

    def _keys(self, author: str) -> tuple[str, str]:
        base = f"{self.prefix}author:{{{author}}}"  # hash tag: both keys on one cluster slot
        return f"{base}:strikes", f"{base}:violations"

    async def snapshot(self, author_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        refused = {a: _refused(self.windows, self.max_author_id_bytes) for a in author_ids
                   if too_long(a, self.max_author_id_bytes)}
        authors = [a for a in author_ids if a not in refused]
        if not authors:
            return refused
        now = self.clock()
        cutoff = f"({now - self.retention_s}"
        pipe = self.client.pipeline(transaction=False)
        for author in authors:
            strikes, violations = self._keys(author)
            pipe.zcount(strikes, cutoff, "+inf")
            for secs in self.windows.values():
                pipe.zcount(strikes, f"({now - secs}", "+inf")
            pipe.zrangebyscore(violations, cutoff, "+inf")
        replies = await pipe.execute()
        out: dict[str, dict[str, Any]] = {}
        step = 2 + len(self.windows)
        for i, author in enumerate(authors):
            chunk = replies[i * step : (i + 1) * step]
            per_clause: dict[str, int] = {}
            for member in chunk[-1]:
                key = bytes(member).decode("utf-8", "replace").split(_SEP, 1)[0]
                per_clause[key] = per_clause.get(key, 0) + 1
            windows = {name: int(n) for name, n in zip(self.windows, chunk[1:-1], strict=True)}
            out[author] = _shape(int(chunk[0]), windows, per_clause)
        return {**out, **refused}

    async def record(self, events: Sequence[ViolationEvent]) -> None:
        events = [ev for ev in events if not too_long(ev.author_id, self.max_author_id_bytes)]
        if not events:
            return
        cutoff = f"({self.clock() - self.retention_s}"
        ttl = max(int(self.retention_s), 1)
        pipe = self.client.pipeline(transaction=False)
        touched: set[str] = set()
        for ev in events:
            strikes, violations = self._keys(ev.author_id)
            # NX: a redelivered post keeps its first time and counts once
            pipe.zadd(strikes, {ev.post_key: ev.at}, nx=True)
            pipe.zadd(violations, {f"{c}{_SEP}{ev.post_key}": ev.at for c in ev.clauses}, nx=True)
            touched.add(ev.author_id)
        for author in touched:
            for key in self._keys(author):
                pipe.zremrangebyscore(key, "-inf", cutoff)
                pipe.zremrangebyrank(key, 0, -(self.max_events + 1))
                pipe.expire(key, ttl)
        await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()
