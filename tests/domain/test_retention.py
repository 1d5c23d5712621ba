"""Retention rules: durations, the cutoff, and which statuses are finished."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dlrhub.domain.delivery_state import FINISHED as FINISHED_DELIVERY_STATUSES
from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.retention import (
    FINAL_MESSAGE_STATUSES,
    MAX_DURATION,
    cutoff,
    parse_duration,
    retention_period,
)
from dlrhub.domain.status import MessageStatus


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", timedelta(0)),
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("90d", timedelta(days=90)),
        ("2w", timedelta(weeks=2)),
        ("1.5d", timedelta(hours=36)),
        (" 7D ", timedelta(days=7)),
        ("36600d", MAX_DURATION),
    ],
)
def test_parses_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "90",  # no unit: guessing one could delete data
        "d",
        "-1d",
        "1y",
        "1d2h",
        "1 d",
        "1.d",
        "\u0661\u0662h",  # Arabic-Indic digits
        "\uff11\uff12h",  # fullwidth digits
        "nan d",
        "inf s",
        "36601d",  # past the cap
        "999999999999w",  # would overflow a timedelta
        "1\x00d",
    ],
)
def test_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text, field="older-than")
    assert caught.value.status == 400
    assert [error.field for error in caught.value.errors] == ["older-than"]


NOW = datetime(2026, 4, 9, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        (timedelta(0), NOW),
        (timedelta(hours=12), datetime(2026, 4, 8, 22, 30, tzinfo=UTC)),
        (timedelta(days=30), datetime(2026, 3, 10, 10, 30, tzinfo=UTC)),
    ],
)
def test_cutoff(keep: timedelta, expected: datetime) -> None:
    assert cutoff(NOW, keep) == expected


def test_negative_cutoff_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        cutoff(NOW, timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("days", "expected"),
    [(30.0, timedelta(days=30)), (0.5, timedelta(hours=12)), (1e9, MAX_DURATION)],
)
def test_retention_period(days: float, expected: timedelta) -> None:
    assert retention_period(days) == expected


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (MessageStatus.SENT, False),
        (MessageStatus.DELIVERED, True),
        (MessageStatus.ERROR, True),
        (MessageStatus.EXPIRED, True),
        (MessageStatus.READ, True),
        (MessageStatus.RECEIVED, True),
    ],
)
def test_final_message_statuses(status: MessageStatus, final: bool) -> None:
    assert (status.value in FINAL_MESSAGE_STATUSES) is final


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        ("pending", False),
        ("failed", False),
        ("succeeded", True),
        ("dead", True),
        ("cancelled", True),
    ],
)
def test_finished_delivery_statuses(status: str, finished: bool) -> None:
    assert (status in FINISHED_DELIVERY_STATUSES) is finished


@pytest.mark.parametrize(
    ("text", "detail", "message"),
    [
        (
            "90",
            "'90' is not a duration: a number and a unit: s, m, h, d or w (e.g. 90d, 12h, 0s)",
            "a number and a unit: s, m, h, d or w (e.g. 90d, 12h, 0s)",
        ),
        ("1000000w", "'1000000w' is too long: at most 36600 days", "at most 36600 days"),
    ],
)
def test_a_refused_duration_says_why(text: str, detail: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text)
    assert caught.value.detail == detail
    assert [(e.field, e.message) for e in caught.value.errors] == [("olderThan", message)]


def test_a_negative_retention_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^a retention period cannot be negative$"):
        cutoff(NOW, timedelta(seconds=-1))
