"""One rule for moments: naive means UTC; every API timestamp is ISO 8601 UTC to the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dlrhub.domain.timestamps import (
    as_utc,
    assume_utc,
    format_optional_timestamp,
    format_timestamp,
)

PLUS_2 = timezone(timedelta(hours=2))
MINUS_1 = timezone(timedelta(hours=-1))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 4, 9, 10, 30), datetime(2026, 4, 9, 10, 30, tzinfo=UTC)),
        (datetime(2026, 4, 9, 10, 30, tzinfo=UTC), datetime(2026, 4, 9, 10, 30, tzinfo=UTC)),
        (datetime(2026, 4, 9, 12, 30, tzinfo=PLUS_2), datetime(2026, 4, 9, 10, 30, tzinfo=UTC)),
        (datetime(2026, 1, 1, 0, 30, tzinfo=PLUS_2), datetime(2025, 12, 31, 22, 30, tzinfo=UTC)),
        (datetime.min, datetime.min.replace(tzinfo=UTC)),
    ],
)
def test_as_utc(moment: datetime, expected: datetime) -> None:
    result = as_utc(moment)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "moment",
    [datetime.max.replace(tzinfo=MINUS_1), datetime.min.replace(tzinfo=PLUS_2)],
)
def test_as_utc_outside_the_calendar_overflows(moment: datetime) -> None:
    with pytest.raises(OverflowError):
        as_utc(moment)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 4, 9, 10, 30), datetime(2026, 4, 9, 10, 30, tzinfo=UTC)),
        # Aware values are left in their zone: a far-off date cannot overflow.
        (datetime.max.replace(tzinfo=MINUS_1), datetime.max.replace(tzinfo=MINUS_1)),
        (datetime(2026, 4, 9, 12, 30, tzinfo=PLUS_2), datetime(2026, 4, 9, 12, 30, tzinfo=PLUS_2)),
    ],
)
def test_assume_utc(moment: datetime, expected: datetime) -> None:
    result = assume_utc(moment)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (None, None),
        (datetime(2026, 4, 9, 10, 30, 5, 999_999), "2026-04-09T10:30:05Z"),
        (datetime(2026, 4, 9, 12, 30, tzinfo=PLUS_2), "2026-04-09T10:30:00Z"),
    ],
)
def test_format_optional_timestamp(moment: datetime | None, expected: str | None) -> None:
    assert format_optional_timestamp(moment) == expected
    if moment is not None:
        assert format_timestamp(moment) == expected
