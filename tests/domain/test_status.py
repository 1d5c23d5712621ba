from __future__ import annotations

import itertools

import pytest

from dlrhub.domain.simulation import simulated_read_follows
from dlrhub.domain.status import (
    READ_CHANNELS,
    STATUS_CODES,
    Channel,
    EventType,
    MessageStatus,
    can_transition,
    describe,
    event_type_for,
    status_code,
)

S = MessageStatus

ALLOWED = {
    (S.SENT, S.DELIVERED, Channel.SMS),
    (S.SENT, S.DELIVERED, Channel.WHATSAPP),
    (S.SENT, S.DELIVERED, Channel.RCS),
    (S.SENT, S.ERROR, Channel.SMS),
    (S.SENT, S.ERROR, Channel.WHATSAPP),
    (S.SENT, S.ERROR, Channel.RCS),
    (S.SENT, S.EXPIRED, Channel.SMS),
    (S.SENT, S.EXPIRED, Channel.WHATSAPP),
    (S.SENT, S.EXPIRED, Channel.RCS),
    (S.DELIVERED, S.READ, Channel.WHATSAPP),
    (S.DELIVERED, S.READ, Channel.RCS),
}

ALL_COMBINATIONS = list(itertools.product(MessageStatus, MessageStatus, Channel))


def test_enum_values() -> None:
    assert [c.value for c in Channel] == ["SMS", "WHATSAPP", "RCS"]
    assert [s.value for s in MessageStatus] == [
        "SENT",
        "DELIVERED",
        "ERROR",
        "EXPIRED",
        "READ",
        "RECEIVED",
    ]
    assert [e.value for e in EventType] == ["DELIVERY", "READ", "INBOUND"]


@pytest.mark.parametrize(
    ("status", "code", "description", "event_type"),
    [
        (S.SENT, None, "Message sent", None),
        (S.DELIVERED, 3, "Message delivered", EventType.DELIVERY),
        (S.ERROR, 6, "Message undeliverable", EventType.DELIVERY),
        (S.EXPIRED, 8, "Message expired", EventType.DELIVERY),
        (S.READ, None, "Message read", EventType.READ),
        (S.RECEIVED, None, "Message received", None),
    ],
)
def test_status_facts(
    status: MessageStatus, code: int | None, description: str, event_type: EventType | None
) -> None:
    assert status_code(status) == code
    assert STATUS_CODES.get(status) == code
    assert describe(status) == description
    assert event_type_for(status) is event_type


def test_status_codes_table() -> None:
    assert dict(STATUS_CODES) == {S.DELIVERED: 3, S.ERROR: 6, S.EXPIRED: 8}


@pytest.mark.parametrize(("current", "new", "channel"), ALL_COMBINATIONS)
def test_can_transition(current: MessageStatus, new: MessageStatus, channel: Channel) -> None:
    assert can_transition(current, new, channel) is ((current, new, channel) in ALLOWED)


@pytest.mark.parametrize(("status", "channel"), list(itertools.product(MessageStatus, Channel)))
def test_duplicate_is_refused(status: MessageStatus, channel: Channel) -> None:
    assert can_transition(status, status, channel) is False


def test_accepts_plain_strings_from_storage() -> None:
    # Rows read back from the database may carry plain strings; StrEnum compares equal.
    assert can_transition("SENT", "DELIVERED", "SMS") is True  # type: ignore[arg-type]
    assert can_transition("DELIVERED", "READ", "SMS") is False  # type: ignore[arg-type]
    assert can_transition("DELIVERED", "READ", "RCS") is True  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channel", "reads"),
    [(Channel.SMS, False), (Channel.WHATSAPP, True), (Channel.RCS, True)],
)
def test_read_channels_one_rule_for_transitions_and_the_simulator(
    channel: Channel, reads: bool
) -> None:
    assert (channel in READ_CHANNELS) is reads
    assert can_transition(S.DELIVERED, S.READ, channel) is reads
    assert simulated_read_follows("+393401230001", channel, S.DELIVERED) is reads
