"""Channels, message statuses and the rules for moving between statuses."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "READ_CHANNELS",
    "STATUS_CODES",
    "Channel",
    "EventType",
    "MessageStatus",
    "can_transition",
    "describe",
    "event_type_for",
    "status_code",
]


class Channel(StrEnum):
    SMS = "SMS"
    WHATSAPP = "WHATSAPP"
    RCS = "RCS"


class MessageStatus(StrEnum):
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    ERROR = "ERROR"
    EXPIRED = "EXPIRED"
    READ = "READ"
    RECEIVED = "RECEIVED"


class EventType(StrEnum):
    DELIVERY = "DELIVERY"
    READ = "READ"
    INBOUND = "INBOUND"


# Only the outcomes reported in a DELIVERY event have a numeric code (SPEC §3).
STATUS_CODES: Mapping[MessageStatus, int] = MappingProxyType(
    {
        MessageStatus.DELIVERED: 3,
        MessageStatus.ERROR: 6,
        MessageStatus.EXPIRED: 8,
    }
)

_DESCRIPTIONS: Mapping[MessageStatus, str] = MappingProxyType(
    {
        MessageStatus.SENT: "Message sent",
        MessageStatus.DELIVERED: "Message delivered",
        MessageStatus.ERROR: "Message undeliverable",
        MessageStatus.EXPIRED: "Message expired",
        MessageStatus.READ: "Message read",
        MessageStatus.RECEIVED: "Message received",
    }
)

_FINAL_OUTCOMES = frozenset({MessageStatus.DELIVERED, MessageStatus.ERROR, MessageStatus.EXPIRED})
# The channels whose messages report being read: SMS has no read receipts.
READ_CHANNELS = frozenset({Channel.WHATSAPP, Channel.RCS})


def status_code(status: MessageStatus) -> int | None:
    """Return the DELIVERY ``statusCode`` of ``status``, or None when it has none."""
    return STATUS_CODES.get(status)


def describe(status: MessageStatus) -> str:
    """Return the human-readable description shown next to ``status``."""
    return _DESCRIPTIONS[status]


def can_transition(current: MessageStatus, new: MessageStatus, channel: Channel) -> bool:
    """Return whether a message may move from ``current`` to ``new``.

    Statuses only move forward, so a late or repeated carrier report is refused rather
    than rewinding a message or emitting a second event for the same transition.
    """
    if current == MessageStatus.SENT:
        return new in _FINAL_OUTCOMES
    if current == MessageStatus.DELIVERED:
        # SMS has no read receipts, so a READ for it can only be a carrier mistake.
        return new == MessageStatus.READ and channel in READ_CHANNELS
    return False


def event_type_for(new: MessageStatus) -> EventType | None:
    """Return the kind of event a move to ``new`` emits, or None if it emits none."""
    if new in _FINAL_OUTCOMES:
        return EventType.DELIVERY
    if new == MessageStatus.READ:
        return EventType.READ
    return None
