from __future__ import annotations

import pytest

from dlrhub.domain.simulation import (
    simulated_error,
    simulated_outcome,
    simulated_read_follows,
)
from dlrhub.domain.status import Channel, MessageStatus

S = MessageStatus


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("+393400000006", S.ERROR),
        ("+393400000008", S.EXPIRED),
        ("+393400000003", S.DELIVERED),
        ("+393401234567", S.DELIVERED),
        ("+393400010006", S.ERROR),
        ("+393400000060", S.DELIVERED),  # the last four digits must match exactly
        ("+393400000016", S.DELIVERED),
        ("+393400000080", S.DELIVERED),
        # Three matching digits are not four: a rule on the last three would call these
        # ERROR and EXPIRED.
        ("+393400001006", S.DELIVERED),
        ("+393400009008", S.DELIVERED),
        ("+393400000806", S.DELIVERED),
    ],
)
def test_simulated_outcome(destination: str, expected: MessageStatus) -> None:
    assert simulated_outcome(destination) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.ERROR, "Simulated: recipient unreachable"),
        (S.EXPIRED, "Simulated: validity period expired"),
        (S.DELIVERED, None),
        (S.SENT, None),
        (S.READ, None),
        (S.RECEIVED, None),
    ],
)
def test_simulated_error(status: MessageStatus, expected: str | None) -> None:
    assert simulated_error(status) == expected


@pytest.mark.parametrize(
    ("destination", "channel", "outcome", "expected"),
    [
        ("+393401234567", Channel.WHATSAPP, S.DELIVERED, True),
        ("+393401234567", Channel.RCS, S.DELIVERED, True),
        ("+393401234567", Channel.SMS, S.DELIVERED, False),
        ("+393400000003", Channel.WHATSAPP, S.DELIVERED, False),
        ("+393400000003", Channel.RCS, S.DELIVERED, False),
        ("+393400000006", Channel.WHATSAPP, S.ERROR, False),
        ("+393400000008", Channel.RCS, S.EXPIRED, False),
        ("+393400000030", Channel.WHATSAPP, S.DELIVERED, True),
        ("+393400001003", Channel.WHATSAPP, S.DELIVERED, True),  # 003, not 0003
        ("+393400000603", Channel.RCS, S.DELIVERED, True),
    ],
)
def test_simulated_read_follows(
    destination: str, channel: Channel, outcome: MessageStatus, expected: bool
) -> None:
    assert simulated_read_follows(destination, channel, outcome) is expected


@pytest.mark.parametrize("channel", list(Channel))
def test_outcome_and_read_agree(channel: Channel) -> None:
    for destination in ("+393400000006", "+393400000008"):
        outcome = simulated_outcome(destination)
        assert simulated_read_follows(destination, channel, outcome) is False
