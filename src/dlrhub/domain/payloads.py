"""Builders for the webhook event payloads of SPEC §6.

Key order matters to people reading raw deliveries and to signature test vectors, so
every builder writes its keys in exactly the order the contract shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from dlrhub.domain.status import Channel, EventType, MessageStatus, describe, status_code
from dlrhub.domain.timestamps import format_timestamp

__all__ = [
    "delivery_payload",
    "encode_payload",
    "inbound_payload",
    "read_payload",
]


def delivery_payload(
    *,
    message_id: str,
    customer_message_id: str,
    destination: str,
    status: MessageStatus,
    channel: Channel,
    occurred_at: datetime,
    error: str | None,
) -> dict[str, object]:
    """Build a DELIVERY event: the final outcome (DELIVERED, ERROR, EXPIRED) of a message."""
    return {
        "eventType": EventType.DELIVERY.value,
        "messageId": message_id,
        "customerMessageId": customer_message_id,
        "destination": destination,
        "statusCode": status_code(status),
        "status": MessageStatus(status).value,
        "description": describe(status),
        "channel": Channel(channel).value,
        "timestamp": format_timestamp(occurred_at),
        "error": error,
    }


def read_payload(
    *,
    message_id: str,
    customer_message_id: str,
    destination: str,
    channel: Channel,
    occurred_at: datetime,
) -> dict[str, object]:
    """Build a READ event (WhatsApp and RCS only)."""
    return {
        "eventType": EventType.READ.value,
        "messageId": message_id,
        "customerMessageId": customer_message_id,
        "destination": destination,
        "channel": Channel(channel).value,
        "timestamp": format_timestamp(occurred_at),
    }


def inbound_payload(
    *,
    source: str,
    destination: str,
    text: str,
    channel: Channel,
    occurred_at: datetime,
    message_type: str = "TEXT",
) -> dict[str, object]:
    """Build an INBOUND event: a message a recipient sent to one of the account's numbers."""
    return {
        "eventType": EventType.INBOUND.value,
        "source": source,
        "destination": destination,
        "text": text,
        "channel": Channel(channel).value,
        "messageType": message_type,
        "timestamp": format_timestamp(occurred_at),
    }


def encode_payload(payload: Mapping[str, object]) -> bytes:
    """Serialise ``payload`` as compact UTF-8 JSON: the exact bytes that get signed."""
    # allow_nan=False because NaN/Infinity are not JSON and receivers would reject them.
    text = json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")
