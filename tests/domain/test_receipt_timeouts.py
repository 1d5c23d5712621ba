"""Receipt-timeout rules (docs/receipt-timeouts.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dlrhub.domain.receipt_timeouts import (
    MAX_VALIDITY_S,
    LogOutcome,
    check_validity,
    describe_duration,
    is_timed_out,
    log_outcome,
    receipt_deadline,
    timeout_error,
)
from dlrhub.domain.status import MessageStatus

S = MessageStatus


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (172800, "48 hours"),
        (3600, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (1, "1 second"),
        (61, "1 minute 1 second"),
        (86400, "24 hours"),
        (604800, "7 days"),
        (3 * 86400 + 3600, "3 days 1 hour"),
        (0, "0 seconds"),
    ],
)
def test_describe_duration(seconds: int, text: str) -> None:
    assert describe_duration(seconds) == text


def test_timeout_error_is_the_contracts_text() -> None:
    assert timeout_error(172800) == "no delivery receipt from the carrier within 48 hours"


@pytest.mark.parametrize(
    ("status", "error", "timed_out"),
    [
        (S.EXPIRED, timeout_error(10), True),
        (S.EXPIRED, "Simulated: validity period expired", False),
        (S.EXPIRED, None, False),
        (S.ERROR, timeout_error(10), False),
        (S.SENT, None, False),
    ],
)
def test_is_timed_out(status: S, error: str | None, timed_out: bool) -> None:
    assert is_timed_out(status, error) is timed_out


@pytest.mark.parametrize(
    ("applied", "status", "error", "outcome"),
    [
        (True, S.SENT, None, LogOutcome.APPLIED),
        (False, S.DELIVERED, None, LogOutcome.IGNORED),
        (False, S.EXPIRED, "carrier said so", LogOutcome.IGNORED),
        (False, S.EXPIRED, timeout_error(60), LogOutcome.LATE),
        (False, S.SENT, None, LogOutcome.IGNORED),  # an intermediate report
    ],
)
def test_log_outcome(applied: bool, status: S, error: str | None, outcome: LogOutcome) -> None:
    assert log_outcome(applied, status, error) is outcome


def test_the_sends_validity_replaces_the_default() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert receipt_deadline(at, None, 100) == at + timedelta(seconds=100)
    assert receipt_deadline(at, 7, 100) == at + timedelta(seconds=7)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (None, True),
        (1, True),
        (MAX_VALIDITY_S, True),
        (0, False),
        (-5, False),
        (MAX_VALIDITY_S + 1, False),
    ],
)
def test_check_validity(value: int | None, ok: bool) -> None:
    problem = check_validity(value)
    assert (problem is None) is ok
    if problem is not None:
        assert problem.field == "validityPeriod"
