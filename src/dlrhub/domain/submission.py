"""What a carrier's answer to a submission means, and when to try again (SPEC §11; issue 11).

The same three outcomes for every connector: accepted (the message stays SENT, the carrier's
id is kept to match its reports), refused for good (ERROR, DELIVERY 6, the carrier's reason),
refused for now (throttled, queue full, no session, a timeout: tried again with backoff until
`DLRHUB_SUBMIT_GIVE_UP_S` after the first try, then ERROR "not accepted by the carrier: …").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

__all__ = [
    "ESME_RINVDSTADR",
    "ESME_RMSGQFUL",
    "ESME_ROK",
    "ESME_RTHROTTLED",
    "SubmitAnswer",
    "SubmitDecision",
    "decide_after_submit",
    "smpp_answer",
    "smpp_status_text",
]

ESME_ROK = 0x00
ESME_RMSGQFUL = 0x14
ESME_RINVDSTADR = 0x0B
ESME_RTHROTTLED = 0x58

# SMPP statuses that mean "slow down and try later", not "never" (SPEC §11.2).
_SMPP_TRY_LATER = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})

# First delay before submitting again, doubled per try, at most the cap.
FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(seconds=60)


class SubmitAnswer(Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # for good
    TRY_LATER = "try later"


@dataclass(frozen=True)
class SubmitDecision:
    """What becomes of a submission: done (accepted or failed) or due again at `retry_at`."""

    answer: SubmitAnswer
    retry_at: datetime | None
    error: str | None  # the message's error when it fails


def smpp_answer(command_status: int) -> SubmitAnswer:
    """A `submit_sm_resp`'s `command_status`, as one of the three outcomes."""
    if command_status == ESME_ROK:
        return SubmitAnswer.ACCEPTED
    if command_status in _SMPP_TRY_LATER:
        return SubmitAnswer.TRY_LATER
    return SubmitAnswer.REFUSED


# Names of the statuses an operator most often meets (SMPP 3.4, 5.1.3); others by number.
_SMPP_STATUS_NAMES = {
    0x01: "ESME_RINVMSGLEN",
    0x02: "ESME_RINVCMDLEN",
    0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR",
    ESME_RINVDSTADR: "ESME_RINVDSTADR",
    0x0D: "ESME_RBINDFAIL",
    ESME_RMSGQFUL: "ESME_RMSGQFUL",
    0x45: "ESME_RSUBMITFAIL",
    ESME_RTHROTTLED: "ESME_RTHROTTLED",
    0x61: "ESME_RINVSCHED",
    0x62: "ESME_RINVEXPIRY",
}


def smpp_status_text(command_status: int) -> str:
    """How a refusal reads in a message's `error`: the status's name and number."""
    name = _SMPP_STATUS_NAMES.get(command_status, "SMPP error")
    return f"{name} (0x{command_status:08X})"


def decide_after_submit(
    answer: SubmitAnswer,
    *,
    reason: str,
    tries_made: int,
    first_tried_at: datetime,
    now: datetime,
    give_up_after: timedelta,
) -> SubmitDecision:
    """After a try: accepted is done; refused for good fails with `reason`; refused for now
    is due again after 1 s doubling to 60 s, unless that would pass the give-up time, when
    it fails as not accepted."""
    if answer is SubmitAnswer.ACCEPTED:
        return SubmitDecision(answer, None, None)
    if answer is SubmitAnswer.REFUSED:
        return SubmitDecision(answer, None, reason)
    # The exponent is capped: past 2**6 s the cap applies anyway, and 2**n overflows.
    delay = min(FIRST_DELAY * 2 ** min(max(tries_made - 1, 0), 16), MAX_DELAY)
    retry_at = now + delay
    if retry_at > first_tried_at + give_up_after:
        return SubmitDecision(SubmitAnswer.REFUSED, None, f"not accepted by the carrier: {reason}")
    return SubmitDecision(answer, retry_at, None)
