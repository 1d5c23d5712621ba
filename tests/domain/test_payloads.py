from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dlrhub.domain.payloads import (
    delivery_payload,
    encode_payload,
    inbound_payload,
    read_payload,
)
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.domain.timestamps import format_timestamp

MOMENT = datetime(2026, 4, 9, 10, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (MOMENT, "2026-04-09T10:30:00Z"),
        (datetime(2026, 4, 9, 10, 30, 0, 999_999, tzinfo=UTC), "2026-04-09T10:30:00Z"),
        (datetime(2026, 4, 9, 10, 30, 0), "2026-04-09T10:30:00Z"),  # naive = UTC
        (
            datetime(2026, 4, 9, 12, 30, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-04-09T10:30:00Z",
        ),
        (
            datetime(2026, 1, 1, 0, 30, 5, tzinfo=timezone(timedelta(hours=1))),
            "2025-12-31T23:30:05Z",
        ),
        (
            datetime(2026, 4, 9, 5, 0, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2026-04-09T10:30:00Z",
        ),
    ],
)
def test_format_timestamp(moment: datetime, expected: str) -> None:
    assert format_timestamp(moment) == expected


@pytest.mark.parametrize(
    ("status", "code", "description", "error"),
    [
        (MessageStatus.DELIVERED, 3, "Message delivered", None),
        (MessageStatus.ERROR, 6, "Message undeliverable", "Absent subscriber"),
        (MessageStatus.EXPIRED, 8, "Message expired", "Validity period expired"),
    ],
)
def test_delivery_payload(
    status: MessageStatus, code: int, description: str, error: str | None
) -> None:
    payload = delivery_payload(
        message_id="4f1c7a2e-0000-4000-8000-000000000001",
        customer_message_id="order-12345",
        destination="+393401234567",
        status=status,
        channel=Channel.SMS,
        occurred_at=MOMENT,
        error=error,
    )
    assert list(payload.items()) == [
        ("eventType", "DELIVERY"),
        ("messageId", "4f1c7a2e-0000-4000-8000-000000000001"),
        ("customerMessageId", "order-12345"),
        ("destination", "+393401234567"),
        ("statusCode", code),
        ("status", status.value),
        ("description", description),
        ("channel", "SMS"),
        ("timestamp", "2026-04-09T10:30:00Z"),
        ("error", error),
    ]
    # Plain str, not the enum, so any serializer renders it the same way.
    assert type(payload["status"]) is str
    assert type(payload["channel"]) is str


def test_read_payload() -> None:
    payload = read_payload(
        message_id="m-1",
        customer_message_id="c-1",
        destination="+393401234567",
        channel=Channel.WHATSAPP,
        occurred_at=MOMENT,
    )
    assert list(payload.items()) == [
        ("eventType", "READ"),
        ("messageId", "m-1"),
        ("customerMessageId", "c-1"),
        ("destination", "+393401234567"),
        ("channel", "WHATSAPP"),
        ("timestamp", "2026-04-09T10:30:00Z"),
    ]


@pytest.mark.parametrize("message_type", ["TEXT", "IMAGE"])
def test_inbound_payload(message_type: str) -> None:
    payload = inbound_payload(
        source="+393401234567",
        destination="+393409876543",
        text="Yes, I confirm my appointment",
        channel=Channel.RCS,
        occurred_at=MOMENT,
        message_type=message_type,
    )
    assert list(payload.items()) == [
        ("eventType", "INBOUND"),
        ("source", "+393401234567"),
        ("destination", "+393409876543"),
        ("text", "Yes, I confirm my appointment"),
        ("channel", "RCS"),
        ("messageType", message_type),
        ("timestamp", "2026-04-09T10:30:00Z"),
    ]


def test_inbound_payload_defaults_to_text() -> None:
    payload = inbound_payload(
        source="+1", destination="+2", text="hi", channel=Channel.SMS, occurred_at=MOMENT
    )
    assert payload["messageType"] == "TEXT"


def test_encode_payload_is_compact_utf8() -> None:
    body = encode_payload({"eventType": "INBOUND", "text": "Caffè €5 😀", "error": None})
    assert body == '{"eventType":"INBOUND","text":"Caffè €5 😀","error":null}'.encode()


def test_encode_payload_keeps_key_order() -> None:
    payload = delivery_payload(
        message_id="m",
        customer_message_id="c",
        destination="+393401234567",
        status=MessageStatus.DELIVERED,
        channel=Channel.SMS,
        occurred_at=MOMENT,
        error=None,
    )
    body = encode_payload(payload)
    assert body.startswith(b'{"eventType":"DELIVERY","messageId":"m","customerMessageId":"c"')
    assert json.loads(body) == payload


def test_encode_payload_refuses_nan() -> None:
    with pytest.raises(ValueError, match="JSON"):
        encode_payload({"x": float("nan")})
