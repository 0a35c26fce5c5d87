"""One micro-batcher in front of each model: concurrent single requests become batched forward
passes (max batch size, max wait), with a bounded queue that pushes back instead of growing."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from gavel.errors import OverloadedError

R = TypeVar("R")


@dataclass
class _Single(Generic[R]):
    """One text of some caller's request; batched with others."""

    text: str
    future: asyncio.Future[R]
    queued_at: float


@dataclass
class _Block(Generic[R]):
    """Texts that must go through the model as one forward pass of their own (occlusion variants)."""

    texts: list[str]
    future: asyncio.Future[list[R]]
    queued_at: float


class MicroBatcher(Generic[R]):
    """Groups texts from many callers into calls of `fn(batch)` run on one worker thread.

    The forward pass runs off the event loop, so the API keeps answering while a model works;
    one thread per model because torch parallelises inside a batch already. A batch leaves when
    it is full or when its oldest text has waited `max_wait_ms` (texts that queued during the
    previous forward pass have already waited, so they leave at once). At most `queue_size`
    texts wait; beyond that `submit*` raise OverloadedError instead of queueing without bound.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[[Sequence[str]], list[R]],
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        queue_size: int = 4096,
        observe: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1 or queue_size < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and queue_size must be >= 1, max_wait_ms >= 0")
        self.name = name
        self._fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.queue_size = queue_size
        self._observe = observe
        self._entries: deque[_Single[R] | _Block[R]] = deque()
        self._waiting = 0  # texts queued, not yet handed to the model
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gavel-{name}")
        self.batches = 0  # forward passes run
        self.items = 0  # texts scored

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The model's one worker thread: other calls into the same model (evidence) run there too."""
        return self._executor

    @property
    def waiting(self) -> int:
        """Texts queued and not yet in a forward pass (for metrics and tests)."""
        return self._waiting

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._ensure_loop()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._fail_all(OverloadedError(f"model '{self.name}' is shutting down"))

    def _fail_all(self, exc: Exception) -> None:
        while self._entries:
            entry = self._entries.popleft()
            if not entry.future.done():
                entry.future.set_exception(exc)
        self._waiting = 0

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # first use, or a new event loop (CLI, tests): entries of a dead loop can never be answered
            self._entries.clear()
            self._waiting = 0
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name=f"batcher-{self.name}")
        return loop

    # --- callers ---------------------------------------------------------------------------

    def _admit(self, n: int) -> None:
        # A request larger than the whole queue is let in when nothing waits, or it could never run.
        if self._waiting and self._waiting + n > self.queue_size:
            raise OverloadedError(
                f"model '{self.name}' queue is full ({self._waiting} of {self.queue_size} texts waiting); retry later"
            )

    async def submit_many(self, texts: Sequence[str]) -> list[R]:
        """Score `texts`, batched with whatever else is waiting; results in order."""
        if not texts:
            return []
        loop = self._ensure_loop()
        self._admit(len(texts))
        now = loop.time()
        futures: list[asyncio.Future[R]] = []
        for text in texts:
            fut: asyncio.Future[R] = loop.create_future()
            self._entries.append(_Single(text, fut, now))
            futures.append(fut)
        self._waiting += len(texts)
        assert self._wake is not None
        self._wake.set()
        if len(futures) == 1:
            return [await futures[0]]
        return list(await asyncio.gather(*futures))

    async def submit(self, text: str) -> R:
        return (await self.submit_many([text]))[0]

    async def submit_block(self, texts: Sequence[str]) -> list[R]:
        """Score `texts` in ONE call of the model, on its worker thread, in queue order."""
        if not texts:
            return []
        loop = self._ensure_loop()
        self._admit(len(texts))
        fut: asyncio.Future[list[R]] = loop.create_future()
        self._entries.append(_Block(list(texts), fut, loop.time()))
        self._waiting += len(texts)
        assert self._wake is not None
        self._wake.set()
        return await fut

    # --- the consumer ----------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake
        assert wake is not None
        while True:
            while not self._entries:
                wake.clear()
                await wake.wait()
            head = self._entries[0]
            if isinstance(head, _Block):
                self._entries.popleft()
                self._waiting -= len(head.texts)
                if not head.future.done():
                    await self._forward_block(loop, head)
                continue
            batch = await self._collect(loop, head.queued_at + self.max_wait)
            live = [p for p in batch if not p.future.done()]  # a caller may have gone (client disconnect)
            if live:
                await self._forward(loop, live)

    async def _collect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> list[_Single[R]]:
        assert self._wake is not None
        batch: list[_Single[R]] = []
        while True:
            while self._entries and len(batch) < self.max_batch:
                entry = self._entries[0]
                if isinstance(entry, _Block):
                    return batch  # a block runs alone, after the texts queued before it
                self._entries.popleft()
                self._waiting -= 1
                batch.append(entry)
            remaining = deadline - loop.time()
            if len(batch) >= self.max_batch or remaining <= 0:
                return batch
            self._wake.clear()
            timer = loop.call_later(remaining, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    async def _forward(self, loop: asyncio.AbstractEventLoop, live: list[_Single[R]]) -> None:
        started = loop.time()
        try:
            results = await loop.run_in_executor(self._executor, self._fn, [p.text for p in live])
            if len(results) != len(live):
                raise RuntimeError(f"model '{self.name}' returned {len(results)} results for {len(live)} texts")
        except Exception as exc:  # the callers get the error; the batcher keeps serving
            for p in live:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        self._account(len(live), started - min(p.queued_at for p in live))
        for p, r in zip(live, results, strict=True):
            if not p.future.done():
                p.future.set_result(r)

    async def _forward_block(self, loop: asyncio.AbstractEventLoop, block: _Block[R]) -> None:
        started = loop.time()
        try:
            results = await loop.run_in_executor(self._executor, self._fn, block.texts)
        except Exception as exc:
            if not block.future.done():
                block.future.set_exception(exc)
            return
        self._account(len(block.texts), started - block.queued_at)
        if not block.future.done():
            block.future.set_result(results)

    def _account(self, size: int, waited: float) -> None:
        self.batches += 1
        self.items += size
        if self._observe is not None:
            self._observe(size, waited)
