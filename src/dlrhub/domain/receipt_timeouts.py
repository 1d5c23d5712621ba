"""Receipt timeouts (docs/receipt-timeouts.md): carriers lose receipts, so a message with no
final report some time after its hand-over becomes EXPIRED, and what came later is logged.

Pure rules: the deadline, the error it reports, how a send's `validityPeriod` is checked, and
how each carrier report is entered in a message's report log (applied, ignored, late).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from dlrhub.domain.errors import FieldError
from dlrhub.domain.status import MessageStatus

__all__ = [
    "DEFAULT_RECEIPT_TIMEOUT_S",
    "MAX_VALIDITY_S",
    "LogOutcome",
    "check_validity",
    "describe_duration",
    "is_timed_out",
    "log_outcome",
    "receipt_deadline",
    "timeout_error",
]

DEFAULT_RECEIPT_TIMEOUT_S = 48 * 3600
# A week: SMSCs cap an SMS's validity period at a few days; longer would only hide a loss.
MAX_VALIDITY_S = 7 * 24 * 3600
_TIMEOUT_ERROR = "no delivery receipt from the carrier within "
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def describe_duration(seconds: int) -> str:
    """`172800` → "48 hours", `5400` → "1 hour 30 minutes": the largest units that add up
    exactly, days only from 3 days up (a timeout is usually thought of in hours)."""
    if seconds <= 0:
        return "0 seconds"
    parts: list[str] = []
    rest = seconds
    for name, size in _UNITS:
        if name == "day" and seconds < 3 * 86400:
            continue
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts)


def timeout_error(seconds: int) -> str:
    """The `error` of a message that timed out after `seconds`."""
    return _TIMEOUT_ERROR + describe_duration(seconds)


def is_timed_out(status: MessageStatus, error: str | None) -> bool:
    """Whether a message is EXPIRED because its receipt never came (not by a carrier's word)."""
    return status is MessageStatus.EXPIRED and (error or "").startswith(_TIMEOUT_ERROR)


def receipt_deadline(handed_over_at: datetime, validity_s: int | None, default_s: int) -> datetime:
    """When a message handed over at `handed_over_at` times out: its own validity, if the
    send gave one, replaces the default."""
    return handed_over_at + timedelta(seconds=default_s if validity_s is None else validity_s)


def check_validity(validity_s: int | None) -> FieldError | None:
    """A send's `validityPeriod`: whole seconds, 1 up to a week."""
    if validity_s is None or 1 <= validity_s <= MAX_VALIDITY_S:
        return None
    return FieldError("validityPeriod", f"must be 1 to {MAX_VALIDITY_S} seconds")


class LogOutcome(StrEnum):
    """What a carrier report did, as the report log shows it."""

    APPLIED = "applied"
    IGNORED = "ignored"  # intermediate, repeated, or a move the statuses do not allow
    LATE = "late"  # came after the message timed out: changes nothing, counted


def log_outcome(
    applied: bool, status_before: MessageStatus, error_before: str | None
) -> LogOutcome:
    """How a report on a message that was (`status_before`, `error_before`) is logged."""
    if applied:
        return LogOutcome.APPLIED
    if is_timed_out(status_before, error_before):
        return LogOutcome.LATE
    return LogOutcome.IGNORED
