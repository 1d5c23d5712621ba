"""Per-account limits on "test webhook" calls and on richer webhooks (SPEC §14)."""

from __future__ import annotations

import pytest

from dlrhub.domain.limits import (
    TEST_CONCURRENCY,
    TEST_RATE,
    Refusal,
    TestLimits,
    TestUsage,
    admit_test,
    finish_test,
    prune,
    webhooks_over_limit,
)

LIMITS = TestLimits(rate_per_minute=3, concurrency=2, attempt_timeout_s=5.0)


@pytest.mark.parametrize(
    ("usage", "now", "expected"),
    [
        # Nothing yet: admitted, counted as started and running.
        (TestUsage(), 100.0, TestUsage(started=(100.0,), running=(100.0,))),
        # One running: a second may run beside it.
        (
            TestUsage(started=(99.0,), running=(99.0,)),
            100.0,
            TestUsage(started=(99.0, 100.0), running=(99.0, 100.0)),
        ),
        # Two running: the third waits until the oldest times out at the latest (96 + 5 - 100).
        (
            TestUsage(started=(96.0, 99.0), running=(96.0, 99.0)),
            100.0,
            Refusal(TEST_CONCURRENCY, 2, 1),
        ),
        (
            TestUsage(started=(99.5, 99.9), running=(99.5, 99.9)),
            100.0,
            Refusal(TEST_CONCURRENCY, 2, 5),  # 4.5 s, rounded up
        ),
        # Three started in the last minute (finished): the fourth waits for the oldest to
        # leave the window, 50 + 60 - 100 = 10 s.
        (TestUsage(started=(50.0, 70.0, 90.0)), 100.0, Refusal(TEST_RATE, 3, 10)),
        # Over both: the rate is reported (the longer wait).
        (
            TestUsage(started=(50.0, 99.0, 99.5), running=(99.0, 99.5)),
            100.0,
            Refusal(TEST_RATE, 3, 10),
        ),
        # A start exactly one window old has left it: admitted, and forgotten.
        (
            TestUsage(started=(40.0, 70.0, 90.0)),
            100.0,
            TestUsage(started=(70.0, 90.0, 100.0), running=(100.0,)),
        ),
        # Just inside the window: still counted; never less than 1 s to wait.
        (TestUsage(started=(40.1, 70.0, 90.0)), 100.0, Refusal(TEST_RATE, 3, 1)),
        # A running test older than its timeout (clock edge): the wait is still at least 1 s.
        (
            TestUsage(started=(80.0, 90.0), running=(80.0, 90.0)),
            100.0,
            Refusal(TEST_CONCURRENCY, 2, 1),
        ),
    ],
)
def test_admit_test(usage: TestUsage, now: float, expected: TestUsage | Refusal) -> None:
    assert admit_test(usage, now, LIMITS) == expected


def test_refused_calls_are_not_counted() -> None:
    usage = TestUsage(started=(50.0, 70.0, 90.0))
    for now in (100.0, 101.0, 105.0):
        assert isinstance(admit_test(usage, now, LIMITS), Refusal)
    # The oldest leaves at 110: the refusals above did not push the window.
    assert admit_test(usage, 110.5, LIMITS) == TestUsage(
        started=(70.0, 90.0, 110.5), running=(110.5,)
    )


@pytest.mark.parametrize(
    ("usage", "started_at", "now", "expected"),
    [
        (
            TestUsage(started=(10.0, 20.0), running=(10.0, 20.0)),
            10.0,
            25.0,
            TestUsage(started=(10.0, 20.0), running=(20.0,)),
        ),
        # Two tests admitted at the same instant: finishing one leaves the other running.
        (
            TestUsage(started=(10.0, 10.0), running=(10.0, 10.0)),
            10.0,
            11.0,
            TestUsage(started=(10.0, 10.0), running=(10.0,)),
        ),
        # Finishing after the window passed: nothing left, idle.
        (TestUsage(started=(10.0,), running=(10.0,)), 10.0, 75.0, TestUsage()),
        # Unknown start (already finished): only pruned.
        (TestUsage(started=(10.0,)), 3.0, 11.0, TestUsage(started=(10.0,))),
    ],
)
def test_finish_test(usage: TestUsage, started_at: float, now: float, expected: TestUsage) -> None:
    assert finish_test(usage, started_at, now) == expected


@pytest.mark.parametrize(
    ("usage", "now", "idle"),
    [
        (TestUsage(), 0.0, True),
        (TestUsage(started=(10.0,)), 69.0, False),
        (TestUsage(started=(10.0,)), 70.0, True),
        (TestUsage(started=(10.0,), running=(10.0,)), 500.0, False),  # still running
    ],
)
def test_prune(usage: TestUsage, now: float, idle: bool) -> None:
    assert prune(usage, now).idle is idle


@pytest.mark.parametrize(
    ("live", "maximum", "over"),
    [(0, 20, False), (19, 20, False), (20, 20, True), (21, 20, True), (0, 1, False), (1, 1, True)],
)
def test_webhooks_over_limit(live: int, maximum: int, over: bool) -> None:
    assert webhooks_over_limit(live, maximum) is over
