"""The one retry-with-backoff of Gavel (on tenacity): a full model queue, a dropped Redis connection.

    async for attempt in backoff(retry_on=OverloadedError, attempts=7, stop=stop_event):
        with attempt:
            return await evaluator.evaluate_many(items)

Exponential waits from `initial` to `maximum` seconds with jitter; `attempts=None` retries until
`stop` is set (a worker waiting for Redis to come back); the wait ends early when `stop` is set,
and the last exception is raised as it was. `on_retry(attempt, exception, wait_s)` is called
before each wait: log it, count it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

OnRetry = Callable[[int, BaseException, float], None]


def backoff(
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    attempts: int | None = None,
    initial: float = 0.05,
    maximum: float = 2.0,
    stop: asyncio.Event | None = None,
    on_retry: OnRetry | None = None,
) -> AsyncRetrying:
    def should_stop(state: RetryCallState) -> bool:
        if stop is not None and stop.is_set():
            return True
        return attempts is not None and stop_after_attempt(attempts)(state)

    async def sleep(seconds: float) -> None:
        if stop is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        if exc is not None:
            on_retry(state.attempt_number, exc, wait)

    kwargs: dict[str, Any] = {"sleep": sleep}
    return AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        stop=should_stop,
        wait=wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial),
        before_sleep=before_sleep,
        reraise=True,
        **kwargs,
    )
