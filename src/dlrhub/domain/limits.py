"""Per-account limits (SPEC §14): the rules, without state or clock of their own.

"Test webhook" calls: at most `rate_per_minute` started in any 60 s (a sliding window: a
burst cannot be doubled across a minute boundary, as a fixed window would allow) and at most
`concurrency` running at once. Refused calls are not counted: a client that retries too early
does not push its own window further out.

Times are monotonic seconds, passed in by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW_S = 60.0

# The names of the limits as problem bodies report them: the settings that set them.
TEST_RATE = "test_rate_per_minute"
TEST_CONCURRENCY = "test_concurrency_per_account"
WEBHOOKS = "max_webhooks_per_account"


@dataclass(frozen=True)
class TestLimits:
    __test__ = False  # not a pytest test class

    rate_per_minute: int
    concurrency: int
    # A running test ends within this (the attempt's timeout): when a slot frees, at the latest.
    attempt_timeout_s: float


@dataclass(frozen=True)
class TestUsage:
    """One account's tests: start times admitted in the last window, and of those running
    (both oldest first)."""

    __test__ = False

    started: tuple[float, ...] = ()
    running: tuple[float, ...] = ()

    @property
    def idle(self) -> bool:
        return not self.started and not self.running


@dataclass(frozen=True)
class Refusal:
    limit: str  # TEST_RATE or TEST_CONCURRENCY
    value: int
    retry_after_s: int  # whole seconds, at least 1


def _recent(started: tuple[float, ...], now: float) -> tuple[float, ...]:
    return tuple(t for t in started if t > now - WINDOW_S)


def _seconds_until(moment: float, now: float) -> int:
    return max(1, math.ceil(moment - now))


def admit_test(usage: TestUsage, now: float, limits: TestLimits) -> TestUsage | Refusal:
    """The usage with one more test started at `now`, or why it must wait. The rate is
    judged first: when both are over, the longer wait is the one worth reporting."""
    started = _recent(usage.started, now)
    if len(started) >= limits.rate_per_minute:
        # The window frees a place when its oldest entry leaves it.
        oldest = started[len(started) - limits.rate_per_minute]
        return Refusal(TEST_RATE, limits.rate_per_minute, _seconds_until(oldest + WINDOW_S, now))
    if len(usage.running) >= limits.concurrency:
        first = usage.running[len(usage.running) - limits.concurrency]
        retry = _seconds_until(first + limits.attempt_timeout_s, now)
        return Refusal(TEST_CONCURRENCY, limits.concurrency, retry)
    return TestUsage(started=(*started, now), running=(*usage.running, now))


def finish_test(usage: TestUsage, started_at: float, now: float) -> TestUsage:
    """The usage once the test admitted at `started_at` has ended (pruned at `now`)."""
    running = list(usage.running)
    if started_at in running:
        running.remove(started_at)
    return TestUsage(started=_recent(usage.started, now), running=tuple(running))


def prune(usage: TestUsage, now: float) -> TestUsage:
    """The usage without starts that left the window (idle once nothing is left)."""
    return TestUsage(started=_recent(usage.started, now), running=usage.running)


def webhooks_over_limit(live: int, maximum: int) -> bool:
    """Whether an account with `live` richer webhooks may not create another."""
    return live >= maximum
