"""Operational events (docs/alerts.md): only the alerts webhook gets them, it gets nothing
else, and the moment a failing webhook will be disabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dlrhub.domain.alerts import AlertType, alert_payload, disables_at
from dlrhub.domain.routing import EventRoute, WebhookFilter, wants, wants_alerts
from dlrhub.domain.status import Channel, EventType

ALERTS = WebhookFilter(is_delivery_status=False, is_alerts=True)
DELIVERY_STATUS = WebhookFilter(is_delivery_status=True)
RICHER = WebhookFilter(is_delivery_status=False, product="SMS", report_type="DLR")
T0 = datetime(2026, 4, 9, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize("event_type", list(EventType))
@pytest.mark.parametrize("channel", list(Channel))
def test_the_alerts_webhook_gets_no_message_event(channel: Channel, event_type: EventType) -> None:
    assert not wants(ALERTS, EventRoute(channel, event_type, None))


def test_only_the_alerts_webhook_gets_operational_events() -> None:
    assert wants_alerts(ALERTS)
    assert not wants_alerts(DELIVERY_STATUS)
    assert not wants_alerts(RICHER)


def test_disables_at_is_the_streak_start_plus_the_setting_until_disabled() -> None:
    assert disables_at(T0, None, timedelta(days=5)) == T0 + timedelta(days=5)
    assert disables_at(None, None, timedelta(days=5)) is None
    assert disables_at(T0, T0 + timedelta(days=5), timedelta(days=5)) is None


def test_the_payload_has_every_key_in_order_with_nulls() -> None:
    payload = alert_payload(
        alert=AlertType.RECOVERED,
        webhook_id="delivery-status",
        url="https://a.example/",
        failing_since=None,
        last_error=None,
        disables_at=None,
        disabled_at=None,
        occurred_at=T0,
    )
    assert list(payload.items()) == [
        ("eventType", "webhook.recovered"),
        ("webhookId", "delivery-status"),
        ("url", "https://a.example/"),
        ("failingSince", None),
        ("lastError", None),
        ("disablesAt", None),
        ("disabledAt", None),
        ("timestamp", "2026-04-09T10:30:00Z"),
    ]
