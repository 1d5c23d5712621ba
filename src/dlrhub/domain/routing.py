"""Which webhooks an event goes to (SPEC §5, §8), and how the API names a webhook."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dlrhub.domain.status import Channel, EventType

__all__ = [
    "DELIVERY_STATUS_ID",
    "REPORT_TYPE_OF_EVENT",
    "EventRoute",
    "ReportType",
    "WebhookFilter",
    "public_webhook_id",
    "wants",
    "wants_alerts",
]

# An account has one delivery-status webhook, so the API, the delivery log and the dashboard
# name it by this word instead of its row id (SPEC §9).
DELIVERY_STATUS_ID = "delivery-status"


class ReportType(StrEnum):
    DLR = "DLR"
    MO = "MO"


REPORT_TYPE_OF_EVENT: dict[EventType, ReportType] = {
    EventType.DELIVERY: ReportType.DLR,
    EventType.READ: ReportType.DLR,
    EventType.INBOUND: ReportType.MO,
}


@dataclass(frozen=True)
class EventRoute:
    """The facts of an event that routing looks at."""

    channel: Channel
    event_type: EventType
    # The WhatsApp business number the event concerns (sent from, or replied to).
    business_number: str | None


@dataclass(frozen=True)
class WebhookFilter:
    """What a webhook subscribes to. The delivery-status webhook subscribes to everything."""

    is_delivery_status: bool
    product: str | None = None
    report_type: str | None = None
    waba_number: str | None = None
    # The account's alerts webhook (docs/alerts.md) gets operational events and nothing else.
    is_alerts: bool = False


def wants(webhook: WebhookFilter, event: EventRoute) -> bool:
    """Whether `webhook` gets a message's event (DELIVERY, READ, INBOUND)."""
    if webhook.is_alerts:
        return False
    if webhook.is_delivery_status:
        return True
    if webhook.product != event.channel.value:
        return False
    if webhook.report_type != REPORT_TYPE_OF_EVENT[event.event_type].value:
        return False
    return webhook.waba_number is None or webhook.waba_number == event.business_number


def wants_alerts(webhook: WebhookFilter) -> bool:
    """Whether `webhook` gets operational events (webhook.failing, ...): only the alerts
    webhook does, so no other endpoint ever sees them."""
    return webhook.is_alerts


def public_webhook_id(webhook_id: str, *, is_delivery_status: bool) -> str:
    """The id the API shows for a webhook: its row id, or the delivery-status webhook's name."""
    return DELIVERY_STATUS_ID if is_delivery_status else webhook_id
