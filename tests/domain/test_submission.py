"""What a carrier's answer to a submission means (SPEC §11, §11.2; issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dlrhub.domain.submission import (
    SubmitAnswer,
    SubmitDecision,
    decide_after_submit,
    smpp_answer,
)

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
GIVE_UP = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (0x00, SubmitAnswer.ACCEPTED),  # ESME_ROK
        (0x58, SubmitAnswer.TRY_LATER),  # ESME_RTHROTTLED
        (0x14, SubmitAnswer.TRY_LATER),  # ESME_RMSGQFUL
        (0x0B, SubmitAnswer.REFUSED),  # ESME_RINVDSTADR
        (0x08, SubmitAnswer.REFUSED),  # ESME_RSYSERR: the SMSC said so; a dead link is not this
        (0x45, SubmitAnswer.REFUSED),  # ESME_RSUBMITFAIL
        (0x400, SubmitAnswer.REFUSED),  # vendor-specific
    ],
)
def test_smpp_answers(status: int, answer: SubmitAnswer) -> None:
    assert smpp_answer(status) is answer


@pytest.mark.parametrize(
    ("answer", "tries", "now", "expected"),
    [
        (SubmitAnswer.ACCEPTED, 1, T0, SubmitDecision(SubmitAnswer.ACCEPTED, None, None)),
        (SubmitAnswer.REFUSED, 1, T0, SubmitDecision(SubmitAnswer.REFUSED, None, "why")),
        # Refused for now: 1 s, 2 s, 4 s … doubling, at most 60 s.
        (
            SubmitAnswer.TRY_LATER,
            1,
            T0,
            SubmitDecision(SubmitAnswer.TRY_LATER, T0 + timedelta(seconds=1), None),
        ),
        (
            SubmitAnswer.TRY_LATER,
            3,
            T0 + timedelta(seconds=3),
            SubmitDecision(SubmitAnswer.TRY_LATER, T0 + timedelta(seconds=7), None),
        ),
        (
            SubmitAnswer.TRY_LATER,
            8,
            T0 + timedelta(seconds=100),
            SubmitDecision(SubmitAnswer.TRY_LATER, T0 + timedelta(seconds=160), None),
        ),
        (
            SubmitAnswer.TRY_LATER,
            10**6,  # a very long outage: still the cap, no overflow
            T0 + timedelta(seconds=100),
            SubmitDecision(SubmitAnswer.TRY_LATER, T0 + timedelta(seconds=160), None),
        ),
        # Up to the give-up time exactly, and not past it.
        (
            SubmitAnswer.TRY_LATER,
            20,
            T0 + GIVE_UP - timedelta(seconds=60),
            SubmitDecision(SubmitAnswer.TRY_LATER, T0 + GIVE_UP, None),
        ),
        (
            SubmitAnswer.TRY_LATER,
            20,
            T0 + GIVE_UP - timedelta(seconds=59),
            SubmitDecision(SubmitAnswer.REFUSED, None, "not accepted by the carrier: why"),
        ),
    ],
)
def test_decisions(
    answer: SubmitAnswer, tries: int, now: datetime, expected: SubmitDecision
) -> None:
    decided = decide_after_submit(
        answer, reason="why", tries_made=tries, first_tried_at=T0, now=now, give_up_after=GIVE_UP
    )
    assert decided == expected
