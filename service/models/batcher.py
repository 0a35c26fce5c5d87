"""One micro-batcher in front of each model: concurrent single requests become batched forward
passes (max batch size, max wait), with a bounded queue that pushes back instead of growing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.errors import OverloadedError

R = TypeVar("R")


@dataclass
class _Pending(Generic[R]):
    text: str
    future: asyncio.Future[R]
    queued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher(Generic[R]):
    """Groups texts from many callers into calls of `fn(batch)` run on one worker thread.

    The forward pass runs off the event loop, so the API keeps answering while a model works;
    one thread per model because torch parallelises inside a batch already.
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
        self.name = name
        self._fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.queue_size = queue_size
        self._observe = observe
        self._queue: asyncio.Queue[_Pending[R]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gavel-{name}")
        self.batches = 0
        self.items = 0

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue(self.queue_size)
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.set_exception(OverloadedError(f"model '{self.name}' is shutting down"))

    def _ensure_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # first use, or a new event loop (CLI, tests): start a consumer on this loop
            self._queue = asyncio.Queue(self.queue_size)
            self._task = loop.create_task(self._run(), name=f"batcher-{self.name}")

    async def submit_many(self, texts: Sequence[str]) -> list[R]:
        self._ensure_loop()
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        if self._queue.qsize() + len(texts) > self.queue_size:
            raise OverloadedError(f"model '{self.name}' queue is full ({self.queue_size}); retry later")
        futures: list[asyncio.Future[R]] = []
        for text in texts:
            fut: asyncio.Future[R] = loop.create_future()
            self._queue.put_nowait(_Pending(text, fut))
            futures.append(fut)
        return list(await asyncio.gather(*futures))

    async def submit(self, text: str) -> R:
        return (await self.submit_many([text]))[0]

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            first = await queue.get()
            batch = [first]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    while len(batch) < self.max_batch and not queue.empty():
                        batch.append(queue.get_nowait())
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), timeout))
                except TimeoutError:
                    break
            live = [p for p in batch if not p.future.done()]
            if not live:
                continue
            now = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self._fn, [p.text for p in live])
            except Exception as exc:  # the callers get the error; the batcher keeps serving
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(live)
            if self._observe is not None:
                self._observe(len(live), max(now - p.queued_at for p in live))
            for p, r in zip(live, results, strict=True):
                if not p.future.done():
                    p.future.set_result(r)
