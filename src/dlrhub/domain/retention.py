"""Retention (SPEC §15): how long finished data is kept, and what counts as finished.

What is deleted once older than the cutoff, and why:

- A **delivery** that is finished (`succeeded`, `dead` or `cancelled`: `FINISHED` in
  `delivery_state`) and was last changed before the cutoff goes, with its attempts, even when
  its message stays. The delivery log (SPEC §9) is a log of recent work; nothing reads an old
  finished delivery except a replay, and replaying data older than the retention period is
  exactly what retention gives up.
  A `pending` or `failed` (will retry) delivery is never deleted, however old.
- A **message** goes, with its events, when its status is final (anything but `SENT`), it was
  last changed before the cutoff, the simulator has nothing left to report for it, and no
  delivery of any of its events remains (the rule above has already removed the finished old
  ones, so any that remains is live or recent). A message whose event still has a live
  delivery is therefore kept together with that event, and polling it keeps answering.
  A `DELIVERED` WhatsApp or RCS message could in theory still be read; a READ reported after
  the retention period finds no message and is ignored like any report for an unknown one.
- An **event without a message** (INBOUND) goes once it was created before the cutoff and no
  delivery of it remains.

Events of a message are only deleted with that message: polling needs the message, and the
message's events are the history the delivery log links to.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.status import MessageStatus

__all__ = [
    "FINAL_MESSAGE_STATUSES",
    "MAX_DURATION",
    "cutoff",
    "parse_duration",
    "retention_period",
]

# Every status but SENT: a SENT message still waits for its carrier's outcome.
FINAL_MESSAGE_STATUSES: tuple[str, ...] = tuple(
    status.value for status in MessageStatus if status is not MessageStatus.SENT
)

# Far beyond any useful retention, and far inside what a datetime can subtract.
MAX_DURATION = timedelta(days=100 * 366)

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# ASCII digits only: `str.isdigit` and `\d` would also take other scripts' digits.
_DURATION = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,6})?)([smhdw])")


def parse_duration(text: str, *, field: str = "olderThan") -> timedelta:
    """Parse `90d`, `12h`, `30m`, `0s`, `1.5d`, `2w` into a duration.

    One number and one unit (s, m, h, d, w), nothing else: `90` alone is refused rather than
    guessed at, because a unit guessed wrong deletes data.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        hint = "a number and a unit: s, m, h, d or w (e.g. 90d, 12h, 0s)"
        raise InvalidInput(f"{text!r} is not a duration: {hint}", errors=[FieldError(field, hint)])
    # In seconds first: a timedelta of 10^12 weeks would overflow instead of being refused.
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        limit = f"at most {MAX_DURATION.days} days"
        raise InvalidInput(f"{text!r} is too long: {limit}", errors=[FieldError(field, limit)])
    return timedelta(seconds=seconds)


def retention_period(days: float) -> timedelta:
    """The configured retention (`DLRHUB_RETENTION_DAYS`) as a duration, capped like a parsed
    one (a huge setting means "keep everything", not an overflow at every run)."""
    return timedelta(days=min(days, MAX_DURATION.days))


def cutoff(now: datetime, keep: timedelta) -> datetime:
    """The moment before which finished data is deleted: everything changed earlier is older
    than `keep`. Zero keeps nothing finished; the rules above still spare live work."""
    if keep < timedelta(0):
        raise ValueError("a retention period cannot be negative")
    return now - keep
