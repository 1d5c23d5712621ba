"""The rule limiting failed dashboard sign-ins per client address."""

from __future__ import annotations

import pytest

from dlrhub.domain.sign_in import FailureWindow, after_failure, is_open, retry_after

LIMIT = 10


def failures_at(*times: float) -> FailureWindow | None:
    window: FailureWindow | None = None
    for moment in times:
        window = after_failure(window, moment)
    return window


@pytest.mark.parametrize(
    ("failures", "now", "expected"),
    [
        ((), 0.0, None),  # nothing counted yet
        ((0.0,), 1.0, None),
        ((0.0,) * 9, 1.0, None),  # 9 failures: a 10th attempt may be made
        ((0.0,) * 10, 1.0, 59),  # 10 failures: the 11th is refused until the minute ends
        ((0.0,) * 10, 59.5, 1),  # a fraction of a second left is still a whole second
        ((0.0,) * 10, 60.0, None),  # the window has closed
        ((0.0,) * 25, 30.0, 30),  # failures beyond the limit do not extend it
        (tuple(float(t) for t in range(10)), 9.0, 51),  # the window opens at the first
        ((0.0,) * 5 + (61.0,) * 10, 62.0, 59),  # a new window opened at 61 s
        ((0.0,) * 9 + (61.0,), 62.0, None),  # the earlier nine no longer count
    ],
)
def test_retry_after(failures: tuple[float, ...], now: float, expected: int | None) -> None:
    assert retry_after(failures_at(*failures), now, LIMIT) == expected


@pytest.mark.parametrize(
    ("window", "now", "expected"),
    [
        (None, 5.0, FailureWindow(5.0, 1)),
        (FailureWindow(0.0, 3), 59.9, FailureWindow(0.0, 4)),
        (FailureWindow(0.0, 10), 60.0, FailureWindow(60.0, 1)),  # a closed window restarts
    ],
)
def test_after_failure(window: FailureWindow | None, now: float, expected: FailureWindow) -> None:
    assert after_failure(window, now) == expected


@pytest.mark.parametrize(
    ("window", "now", "expected"),
    [(None, 0.0, False), (FailureWindow(0.0, 1), 59.0, True), (FailureWindow(0.0, 1), 60.0, False)],
)
def test_is_open(window: FailureWindow | None, now: float, expected: bool) -> None:
    assert is_open(window, now) is expected


def test_a_shorter_period_and_limit() -> None:
    window = after_failure(after_failure(None, 0.0, period_s=10), 1.0, period_s=10)
    assert retry_after(window, 2.0, limit=2, period_s=10) == 8
    assert retry_after(window, 10.0, limit=2, period_s=10) is None


def test_a_shorter_period_is_honoured_when_counting() -> None:
    opened = FailureWindow(opened_at=0, failures=3)
    assert after_failure(opened, 20, period_s=10) == FailureWindow(opened_at=20, failures=1)
    assert after_failure(opened, 5, period_s=10) == FailureWindow(opened_at=0, failures=4)
