"""Retry schedule for webhook deliveries, and what an attempt means for its delivery.

The first attempt is immediate; a schedule of N delays allows N retries, so N + 1
attempts in all, after which the delivery is dead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from dlrhub.domain.delivery_state import DeliveryState
from dlrhub.domain.timestamps import assume_utc

__all__ = [
    "DEFAULT_SCHEDULE",
    "MAX_RETRY_AFTER",
    "RETRY_AFTER_STATUSES",
    "RetryDecision",
    "decide_after_attempt",
    "next_retry_delay",
    "parse_retry_after",
    "parse_schedule",
]

DEFAULT_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)

# A receiver may ask to be left alone, but not for longer than a day: beyond that the
# header is more likely a mistake than a real maintenance window.
MAX_RETRY_AFTER = 86400.0

# The responses whose Retry-After is honoured: 429 Too Many Requests and 503 Service
# Unavailable are where the header means "come back later" (RFC 6585 §4, RFC 9110 §15.6.4);
# on any other status it says nothing about when a retry would be welcome.
RETRY_AFTER_STATUSES = frozenset({429, 503})

_JITTER_SPREAD = 0.2

# Plain decimals only: float() would also accept "nan", "inf", "1e3" and "1_000".
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_DELTA_SECONDS = re.compile(r"-?[0-9]+")


def parse_schedule(text: str) -> tuple[float, ...]:
    """Parse a comma-separated list of non-negative delays in seconds.

    An empty (or blank) string means no retries at all: one attempt, then dead.
    """
    if not text.strip():
        return ()
    delays = []
    for position, item in enumerate(text.split(","), start=1):
        item = item.strip()
        if not _NUMBER.fullmatch(item):
            raise ValueError(
                f"retry schedule item {position} ({item!r}) is not a non-negative number of "
                f"seconds; expected a comma-separated list such as '5,30,120'"
            )
        delays.append(float(item))
    return tuple(delays)


def next_retry_delay(
    schedule: Sequence[float],
    attempts_made: int,
    jitter: float,
    retry_after: float | None = None,
) -> float | None:
    """Return the seconds to wait before the next attempt, or None when none is left.

    ``jitter`` in [-1, 1] spreads the delay by up to ±20% so that deliveries failing
    together do not all come back at the same instant. ``retry_after`` (from a 429 or
    503) can lengthen the wait, never shorten it.
    """
    if attempts_made < 1:
        raise ValueError(f"attempts_made must be at least 1, got {attempts_made}")
    if not -1.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be within [-1, 1], got {jitter}")
    if attempts_made > len(schedule):
        return None
    delay = schedule[attempts_made - 1] * (1 + _JITTER_SPREAD * jitter)
    if retry_after is not None and not math.isnan(retry_after):
        # Cap the receiver's request, not the operator's own schedule.
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Parse a Retry-After header (delta-seconds or HTTP-date) into seconds from ``now``.

    A moment in the past gives 0; anything unparsable gives None.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return max(0.0, float(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # HTTP-dates are always GMT; a naive value (a "-0000" zone or a naive ``now``) is UTC.
    delta = (assume_utc(moment) - assume_utc(now)).total_seconds()
    return max(0.0, delta)


@dataclass(frozen=True)
class RetryDecision:
    """What one attempt means for its delivery."""

    status: DeliveryState  # one of ATTEMPT_OUTCOMES; FAILED: try again at `next_attempt_at`
    error: str | None
    next_attempt_at: datetime | None


def decide_after_attempt(
    *,
    succeeded: bool,
    response_status: int | None,
    error: str | None,
    retry_after: str | None,
    attempts_made: int,
    schedule: Sequence[float],
    now: datetime,
    jitter: float,
) -> RetryDecision:
    """Decide a delivery's fate after its `attempts_made`-th attempt, made at `now`.

    ``error`` is why no response came (timeout, refused, TLS), ``retry_after`` the response's
    Retry-After header, honoured only on RETRY_AFTER_STATUSES.
    """
    if succeeded:
        return RetryDecision(DeliveryState.SUCCEEDED, None, None)
    wait = None
    if response_status in RETRY_AFTER_STATUSES:
        wait = parse_retry_after(retry_after, now)
    delay = next_retry_delay(schedule, attempts_made, jitter, wait)
    reason = error or f"HTTP {response_status}"
    if delay is None:
        return RetryDecision(DeliveryState.DEAD, reason, None)
    return RetryDecision(DeliveryState.FAILED, reason, now + timedelta(seconds=delay))
