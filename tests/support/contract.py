"""The contract's field sets (SPEC §2, §4, §6), written once for every test that checks them."""

from __future__ import annotations

SEND_KEYS = frozenset({"messageId", "customerMessageId", "channel", "status", "totalParts"})
POLL_KEYS = frozenset(
    {
        "messageId",
        "customerMessageId",
        "channel",
        "destination",
        "status",
        "statusCode",
        "description",
        "sentAt",
        "deliveredAt",
        "readAt",
        "error",
    }
)
DELIVERY_KEYS = frozenset(
    {
        "eventType",
        "messageId",
        "customerMessageId",
        "destination",
        "statusCode",
        "status",
        "description",
        "channel",
        "timestamp",
        "error",
        "sequence",  # the event's place among its message's events (docs/ordering.md)
    }
)
READ_KEYS = frozenset(
    {
        "eventType",
        "messageId",
        "customerMessageId",
        "destination",
        "channel",
        "timestamp",
        "sequence",
    }
)
INBOUND_KEYS = frozenset(
    {"eventType", "source", "destination", "text", "channel", "messageType", "timestamp"}
)
