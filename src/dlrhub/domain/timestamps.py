"""Moments in time as dlrhub keeps and shows them: always UTC.

The store hands back naive values on SQLite and clients may send naive ones; a naive
datetime is taken to be UTC already, everywhere, by this one rule.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "assume_utc", "format_optional_timestamp", "format_timestamp"]


def assume_utc(moment: datetime) -> datetime:
    """`moment` with UTC as its zone when it has none; an aware `moment` is returned as is
    (no conversion, so a far-off date in another zone cannot overflow)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def as_utc(moment: datetime) -> datetime:
    """`moment` expressed in UTC (naive means UTC already). OverflowError when the UTC
    equivalent falls outside the years 1 to 9999."""
    return assume_utc(moment).astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """Render ``moment`` as ISO 8601 UTC with seconds precision, e.g. ``2026-04-09T10:30:00Z``."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_optional_timestamp(moment: datetime | None) -> str | None:
    """`format_timestamp`, with None (a moment that has not come) kept as None."""
    return None if moment is None else format_timestamp(moment)
