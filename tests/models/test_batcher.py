"""The micro-batcher: concurrent single requests are grouped into forward passes, the scores are
the unbatched ones, a full queue pushes back, and a failing model fails only its callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from gavel.errors import OverloadedError
from gavel.models.batcher import MicroBatcher
from gavel.models.hub import DefaultModelHub

TEXTS = [f"post number {i}: you are {'a stupid idiot' if i % 3 == 0 else 'nice'} {'!' * (i % 5)}" for i in range(40)]


def _through_batcher(fn: object, texts: list[str], max_batch: int) -> tuple[list[dict[str, float]], int]:
    async def run() -> tuple[list[dict[str, float]], int]:
        batcher: MicroBatcher[dict[str, float]] = MicroBatcher("t", fn, max_batch=max_batch, max_wait_ms=20)  # type: ignore[arg-type]
        results = await asyncio.gather(*(batcher.submit(t) for t in texts))
        await batcher.close()
        return list(results), batcher.batches

    return asyncio.run(run())


def test_batched_equals_unbatched_profanity(hub: DefaultModelHub) -> None:
    backend = hub._classifiers["profanity"].backend
    alone = [backend.score_batch([t])[0]["profanity"] for t in TEXTS]
    batched, batches = _through_batcher(backend.score_batch, TEXTS, 16)
    assert batches == 3  # 40 concurrent singles in passes of 16, 16, 8
    assert np.allclose([r["profanity"] for r in batched], alone, rtol=0, atol=1e-6)


def test_batched_equals_unbatched_detoxify(detoxify_hub: DefaultModelHub) -> None:
    # texts of different lengths: padding inside a batch must not change a score
    backend = detoxify_hub._classifiers["detoxify"].backend
    alone = [backend.score_batch([t])[0] for t in TEXTS]
    batched, batches = _through_batcher(backend.score_batch, TEXTS, 16)
    assert batches < len(TEXTS)
    for a, b in zip(alone, batched, strict=True):
        assert a.keys() == b.keys()
        assert np.allclose([a[k] for k in a], [b[k] for k in a], rtol=0, atol=1e-6)


def test_batched_equals_unbatched_minilm(hub: DefaultModelHub) -> None:
    backend = hub._embedders["minilm"].backend
    alone = np.stack([backend.embed_batch([t])[0] for t in TEXTS[:24]])

    async def run() -> np.ndarray:
        return await hub.embed("minilm", TEXTS[:24])

    assert np.allclose(asyncio.run(run()), alone, rtol=0, atol=1e-6)


def _gated() -> tuple[threading.Event, list[int], object]:
    gate = threading.Event()
    sizes: list[int] = []

    def fn(batch: Sequence[str]) -> list[int]:
        gate.wait(5)
        sizes.append(len(batch))
        return [len(t) for t in batch]

    return gate, sizes, fn


def test_backpressure_raises_overloaded_and_recovers() -> None:
    gate, sizes, fn = _gated()

    async def run() -> None:
        batcher: MicroBatcher[int] = MicroBatcher("slow", fn, max_batch=2, max_wait_ms=1, queue_size=4)  # type: ignore[arg-type]
        busy = asyncio.ensure_future(batcher.submit("x"))  # occupies the worker thread
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(batcher.submit_many(["a", "bb", "ccc", "dddd"]))  # fills the queue
        await asyncio.sleep(0)
        assert batcher.waiting == 4
        with pytest.raises(OverloadedError, match="queue is full"):
            await batcher.submit("e")
        gate.set()
        assert await busy == 1
        assert await queued == [1, 2, 3, 4]
        assert await batcher.submit("ok") == 2  # it serves again once the queue drains
        await batcher.close()

    asyncio.run(run())
    assert sizes[:3] == [1, 2, 2]


def test_a_request_larger_than_the_queue_runs_when_nothing_waits() -> None:
    async def run() -> list[int]:
        batcher: MicroBatcher[int] = MicroBatcher("big", lambda b: [len(t) for t in b], max_batch=4, queue_size=4)
        out = await batcher.submit_many(["a"] * 10)
        await batcher.close()
        return out

    assert asyncio.run(run()) == [1] * 10


def test_a_block_is_one_forward_pass() -> None:
    sizes: list[int] = []

    def fn(batch: Sequence[str]) -> list[int]:
        sizes.append(len(batch))
        return [len(t) for t in batch]

    async def run() -> list[int]:
        batcher: MicroBatcher[int] = MicroBatcher("b", fn, max_batch=4, max_wait_ms=1)
        out = await batcher.submit_block(["x" * i for i in range(50)])
        await batcher.close()
        return out

    assert asyncio.run(run()) == list(range(50))
    assert sizes == [50]  # not cut into max_batch pieces


def test_a_failing_model_fails_its_callers_and_keeps_serving() -> None:
    def fn(batch: Sequence[str]) -> list[int]:
        if "boom" in batch:
            raise RuntimeError("model exploded")
        return [len(t) for t in batch]

    async def run() -> None:
        batcher: MicroBatcher[int] = MicroBatcher("f", fn, max_batch=8, max_wait_ms=1)
        with pytest.raises(RuntimeError, match="exploded"):
            await batcher.submit("boom")
        assert await batcher.submit("fine") == 4
        await batcher.close()

    asyncio.run(run())


def test_the_forward_pass_runs_off_the_event_loop() -> None:
    gate, _, fn = _gated()

    async def run() -> None:
        batcher: MicroBatcher[int] = MicroBatcher("off", fn, max_batch=2, max_wait_ms=1)  # type: ignore[arg-type]
        pending = asyncio.ensure_future(batcher.submit("slow"))
        ticks = 0
        for _ in range(10):  # the loop keeps running while the model works
            await asyncio.sleep(0.005)
            ticks += 1
        assert ticks == 10 and not pending.done()
        gate.set()
        assert await pending == 4
        await batcher.close()

    asyncio.run(run())


def test_single_requests_wait_at_most_max_wait() -> None:
    async def run() -> float:
        batcher: MicroBatcher[int] = MicroBatcher("w", lambda b: [len(t) for t in b], max_batch=64, max_wait_ms=30)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await batcher.submit("alone")
        elapsed = loop.time() - t0
        await batcher.close()
        return elapsed

    assert 0.02 <= asyncio.run(run()) < 0.5
