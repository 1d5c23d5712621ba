"""The one way tests wait for something that happens in the background."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["wait_until"]

T = TypeVar("T")


@overload
async def wait_until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,  # noqa: ASYNC109 - see below
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float = ...,  # noqa: ASYNC109 - see below
    interval: float = ...,
    what: str = ...,
) -> T: ...


async def wait_until(
    probe: Callable[[], Any],
    *,
    timeout: float = 15.0,  # noqa: ASYNC109 - a deadline for a polling loop, not an I/O timeout
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Call `probe` every `interval` s until it returns something truthy, and return that;
    fail naming `what` (and the last value seen) after `timeout` s.

    `probe` may be a coroutine function, a plain function returning an awaitable (a lambda
    around one), or a plain function: plain functions run in a worker thread, so a blocking
    probe (a synchronous database probe runs its own event loop) never stalls the loop the
    app under test runs on. A synchronous test waits with `asyncio.run(wait_until(...))`.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = await _call(probe)
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s (last: {last!r})")
        await asyncio.sleep(interval)


async def _call(probe: Callable[[], Any]) -> Any:
    if inspect.iscoroutinefunction(probe):
        result = probe()
    else:
        result = await asyncio.to_thread(probe)
    if inspect.isawaitable(result):
        return await result
    return result
