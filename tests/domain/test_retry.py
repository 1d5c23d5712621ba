from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.retry import (
    DEFAULT_SCHEDULE,
    MAX_RETRY_AFTER,
    RetryDecision,
    decide_after_attempt,
    next_retry_delay,
    parse_retry_after,
    parse_schedule,
)

NOW = datetime(2026, 4, 9, 10, 30, 0, tzinfo=UTC)


def test_default_schedule() -> None:
    assert DEFAULT_SCHEDULE == (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)
    assert parse_schedule("5,30,120,600,1800,3600,7200,14400,28800,28800") == DEFAULT_SCHEDULE
    assert MAX_RETRY_AFTER == 86400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,1,2", (1.0, 1.0, 2.0)),
        ("0.5, 2", (0.5, 2.0)),
        (" 5 ,30 ", (5.0, 30.0)),
        ("0", (0.0,)),
        (".5", (0.5,)),
        ("", ()),
        ("   ", ()),
    ],
)
def test_parse_schedule(text: str, expected: tuple[float, ...]) -> None:
    assert parse_schedule(text) == expected


@pytest.mark.parametrize(
    "text",
    ["-1", "1,,2", "1,2,", ",1", "abc", "1;2", "nan", "inf", "1e3", "1_000", "1.", "5s", "1 2"],
)
def test_parse_schedule_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="non-negative number of seconds"):
        parse_schedule(text)


@pytest.mark.parametrize(
    ("schedule", "attempts_made", "jitter", "retry_after", "expected"),
    [
        (DEFAULT_SCHEDULE, 1, 0.0, None, 5.0),
        (DEFAULT_SCHEDULE, 2, 0.0, None, 30.0),
        (DEFAULT_SCHEDULE, 10, 0.0, None, 28800.0),
        (DEFAULT_SCHEDULE, 11, 0.0, None, None),  # 10 retries used: dead
        (DEFAULT_SCHEDULE, 12, 0.0, None, None),
        ((), 1, 0.0, None, None),  # no retries: one attempt only
        ((100.0,), 1, 1.0, None, 120.0),
        ((100.0,), 1, -1.0, None, 80.0),
        ((100.0,), 1, 0.5, None, 110.0),
        ((100.0,), 2, 0.0, None, None),
        ((0.0,), 1, 1.0, None, 0.0),
        ((100.0,), 1, 0.0, 500.0, 500.0),  # Retry-After lengthens the wait
        ((100.0,), 1, 0.0, 10.0, 100.0),  # but never shortens it
        ((100.0,), 1, 0.0, 0.0, 100.0),
        ((100.0,), 1, 0.0, 10**9, MAX_RETRY_AFTER),  # capped at a day
        ((100.0,), 1, 0.0, float("inf"), MAX_RETRY_AFTER),
        ((100.0,), 1, 0.0, float("nan"), 100.0),
        ((100.0,), 2, 0.0, 500.0, None),  # Retry-After cannot revive a dead delivery
        ((200000.0,), 1, 0.0, 10.0, 200000.0),  # the operator's own schedule is not capped
    ],
)
def test_next_retry_delay(
    schedule: tuple[float, ...],
    attempts_made: int,
    jitter: float,
    retry_after: float | None,
    expected: float | None,
) -> None:
    result = next_retry_delay(schedule, attempts_made, jitter, retry_after)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(("attempts_made", "jitter"), [(0, 0.0), (-1, 0.0), (1, 1.01), (1, -1.5)])
def test_next_retry_delay_rejects_bad_arguments(attempts_made: int, jitter: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        next_retry_delay(DEFAULT_SCHEDULE, attempts_made, jitter)


@given(
    schedule=st.lists(
        st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=12
    ),
    data=st.data(),
    jitter=st.floats(min_value=-1.0, max_value=1.0),
)
def test_delay_within_twenty_percent(
    schedule: list[float], data: st.DataObject, jitter: float
) -> None:
    attempts_made = data.draw(st.integers(min_value=1, max_value=len(schedule)))
    base = schedule[attempts_made - 1]
    delay = next_retry_delay(schedule, attempts_made, jitter)
    assert delay is not None
    assert base * 0.8 - 1e-9 <= delay <= base * 1.2 + 1e-9
    assert next_retry_delay(schedule, len(schedule) + 1, jitter) is None


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("120", NOW, 120.0),
        ("0", NOW, 0.0),
        (" 30 ", NOW, 30.0),
        ("-5", NOW, 0.0),
        ("Thu, 09 Apr 2026 10:31:00 GMT", NOW, 60.0),
        ("Thu, 09 Apr 2026 10:29:00 GMT", NOW, 0.0),  # in the past
        ("Thu, 09 Apr 2026 12:31:00 +0200", NOW, 60.0),
        ("Thu, 09 Apr 2026 10:31:00 -0000", NOW, 60.0),  # naive result: UTC
        ("Thu, 09 Apr 2026 10:31:00 GMT", NOW.replace(tzinfo=None), 60.0),  # naive now
        (
            "Thu, 09 Apr 2026 10:31:00 GMT",
            datetime(2026, 4, 9, 12, 30, 0, tzinfo=timezone(timedelta(hours=2))),
            60.0,
        ),
        (None, NOW, None),
        ("", NOW, None),
        ("soon", NOW, None),
        ("1.5", NOW, None),
        ("12abc", NOW, None),
        ("Thu, 32 Apr 2026 10:31:00 GMT", NOW, None),
    ],
)
def test_parse_retry_after(value: str | None, now: datetime, expected: float | None) -> None:
    assert parse_retry_after(value, now) == expected


LATER = "Thu, 09 Apr 2026 11:30:00 GMT"  # an hour after NOW


def _at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("succeeded", "status", "error", "retry_after", "attempts_made", "expected"),
    [
        # A 2xx is done, whatever else came with it and however many attempts it took.
        (True, 200, None, None, 1, RetryDecision("succeeded", None, None)),
        (True, 204, None, "600", 11, RetryDecision("succeeded", None, None)),
        # A failure waits its turn in the schedule (100 s, then 300 s), then is dead.
        (False, 500, None, None, 1, RetryDecision("failed", "HTTP 500", _at(100))),
        (False, 500, None, None, 2, RetryDecision("failed", "HTTP 500", _at(300))),
        (False, 500, None, None, 3, RetryDecision("dead", "HTTP 500", None)),
        # No response at all: the transport's reason is the error.
        (False, None, "timed out", None, 1, RetryDecision("failed", "timed out", _at(100))),
        (False, None, "refused", None, 3, RetryDecision("dead", "refused", None)),
        # Retry-After lengthens the wait on 429 and 503 only, as seconds or as a date...
        (False, 429, None, "600", 1, RetryDecision("failed", "HTTP 429", _at(600))),
        (False, 503, None, LATER, 1, RetryDecision("failed", "HTTP 503", _at(3600))),
        (False, 500, None, "600", 1, RetryDecision("failed", "HTTP 500", _at(100))),
        (False, 302, None, "600", 1, RetryDecision("failed", "HTTP 302", _at(100))),
        # ...never shortens it, is ignored when unreadable, and cannot revive a dead delivery.
        (False, 429, None, "5", 1, RetryDecision("failed", "HTTP 429", _at(100))),
        (False, 429, None, "soon", 1, RetryDecision("failed", "HTTP 429", _at(100))),
        (False, 429, None, "600", 3, RetryDecision("dead", "HTTP 429", None)),
        # Capped at a day: a receiver cannot park a delivery for a year.
        (False, 503, None, "31536000", 1, RetryDecision("failed", "HTTP 503", _at(86400))),
    ],
)
def test_decide_after_attempt(
    succeeded: bool,
    status: int | None,
    error: str | None,
    retry_after: str | None,
    attempts_made: int,
    expected: RetryDecision,
) -> None:
    decision = decide_after_attempt(
        succeeded=succeeded,
        response_status=status,
        error=error,
        retry_after=retry_after,
        attempts_made=attempts_made,
        schedule=(100.0, 300.0),
        now=NOW,
        jitter=0.0,
    )
    assert decision == expected


@pytest.mark.parametrize(("jitter", "seconds"), [(-1.0, 80), (0.0, 100), (1.0, 120)])
def test_decide_after_attempt_spreads_retries_by_the_jitter(jitter: float, seconds: int) -> None:
    decision = decide_after_attempt(
        succeeded=False,
        response_status=500,
        error=None,
        retry_after=None,
        attempts_made=1,
        schedule=(100.0,),
        now=NOW,
        jitter=jitter,
    )
    assert decision.next_attempt_at is not None
    assert (decision.next_attempt_at - NOW).total_seconds() == pytest.approx(seconds)


def test_a_bad_schedule_item_is_named_by_its_position() -> None:
    with pytest.raises(ValueError, match=r"^retry schedule item 2 \('x'\) is not a non-negative"):
        parse_schedule("5, x, 30")
