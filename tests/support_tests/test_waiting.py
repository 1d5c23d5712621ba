"""`wait_until`, the one waiting helper, checked on its own: every kind of probe it takes,
what it returns, and how it fails."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.waiting import wait_until


async def test_returns_the_first_truthy_value_of_a_coroutine_function() -> None:
    calls = itertools.count(1)

    async def probe() -> list[int] | None:
        n = next(calls)
        return [n] if n >= 3 else None

    assert await wait_until(probe, interval=0.001) == [3]


async def test_a_lambda_returning_a_coroutine_is_awaited() -> None:
    calls = itertools.count(1)

    async def rows(n: int) -> list[int]:
        return list(range(n - 2))

    assert await wait_until(lambda: rows(next(calls)), interval=0.001) == [0]


async def test_a_plain_probe_runs_off_the_loop_and_may_run_its_own() -> None:
    """A synchronous database probe runs `asyncio.run` itself: on the loop's thread that
    would raise, and a blocking probe would stall the app under test."""
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def probe() -> bool:
        seen.append(threading.get_ident())
        return asyncio.run(asyncio.sleep(0, result=True))

    assert await wait_until(probe) is True
    assert seen
    assert loop_thread not in seen


def test_a_synchronous_test_waits_with_asyncio_run() -> None:
    deadline = time.monotonic() + 0.05
    assert asyncio.run(wait_until(lambda: time.monotonic() > deadline, interval=0.01)) is True


async def test_a_bool_check_that_never_holds_fails_naming_what_and_the_last_value() -> None:
    async def never() -> bool:
        return False

    started = time.monotonic()
    with pytest.raises(
        AssertionError, match=r"the receipt not reached within 0\.2 s \(last: False\)"
    ):
        await wait_until(never, timeout=0.2, interval=0.01, what="the receipt")
    assert time.monotonic() - started >= 0.2


async def test_falsy_values_are_not_an_answer() -> None:
    values: Iterator[object] = iter([None, [], 0, "", {"done": True}])
    assert await wait_until(lambda: next(values), interval=0.001) == {"done": True}
