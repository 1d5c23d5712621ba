"""Which webhooks an event goes to (SPEC §5, §8): the delivery-status webhook takes every
event; a richer webhook takes its product, its report type and, if set, its number only."""

from __future__ import annotations

import pytest

from dlrhub.domain.routing import REPORT_TYPE_OF_EVENT, EventRoute, WebhookFilter, wants
from dlrhub.domain.status import Channel, EventType

WABA = "+393409876543"
OTHER = "+393409876500"

DELIVERY = EventRoute(Channel.WHATSAPP, EventType.DELIVERY, WABA)
READ = EventRoute(Channel.WHATSAPP, EventType.READ, WABA)
INBOUND = EventRoute(Channel.WHATSAPP, EventType.INBOUND, WABA)
SMS_DELIVERY = EventRoute(Channel.SMS, EventType.DELIVERY, None)
SMS_INBOUND = EventRoute(Channel.SMS, EventType.INBOUND, None)


def _richer(product: str, report_type: str, waba: str | None = None) -> WebhookFilter:
    return WebhookFilter(False, product, report_type, waba)


@pytest.mark.parametrize(
    ("webhook", "event", "expected"),
    [
        (WebhookFilter(True), SMS_DELIVERY, True),
        (WebhookFilter(True), INBOUND, True),
        (WebhookFilter(True, "RCS", "MO", OTHER), DELIVERY, True),  # its filter is not read
        (_richer("WHATSAPP", "DLR"), DELIVERY, True),
        (_richer("WHATSAPP", "DLR"), READ, True),
        (_richer("WHATSAPP", "DLR"), INBOUND, False),
        (_richer("WHATSAPP", "MO"), INBOUND, True),
        (_richer("WHATSAPP", "MO"), DELIVERY, False),
        (_richer("SMS", "DLR"), DELIVERY, False),
        (_richer("RCS", "DLR"), DELIVERY, False),
        (_richer("SMS", "DLR"), SMS_DELIVERY, True),
        (_richer("SMS", "MO"), SMS_INBOUND, True),
        (_richer("WHATSAPP", "DLR", WABA), DELIVERY, True),
        (_richer("WHATSAPP", "DLR", OTHER), DELIVERY, False),
        (_richer("WHATSAPP", "MO", WABA), INBOUND, True),
        (_richer("WHATSAPP", "MO", OTHER), INBOUND, False),
        (
            _richer("WHATSAPP", "DLR", WABA),
            EventRoute(Channel.WHATSAPP, EventType.READ, None),
            False,
        ),
    ],
)
def test_wants(webhook: WebhookFilter, event: EventRoute, expected: bool) -> None:
    assert wants(webhook, event) is expected


def test_report_type_of_each_event() -> None:
    assert {e.value: r.value for e, r in REPORT_TYPE_OF_EVENT.items()} == {
        "DELIVERY": "DLR",
        "READ": "DLR",
        "INBOUND": "MO",
    }
