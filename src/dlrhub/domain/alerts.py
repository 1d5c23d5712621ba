"""Operational events about an account's own webhooks (docs/alerts.md): what they are called,
what they say, and how they are stored among the events."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from dlrhub.domain.timestamps import format_optional_timestamp, format_timestamp

__all__ = [
    "STORED_CHANNEL",
    "STORED_EVENT_TYPE",
    "AlertType",
    "alert_payload",
    "disables_at",
]

# The events table keeps an event's type and channel in ten characters: operational events
# are stored under this one type (the delivery log shows it), the payload says which one.
STORED_EVENT_TYPE = "ALERT"
# They concern a webhook, not a channel.
STORED_CHANNEL = "NONE"


class AlertType(StrEnum):
    FAILING = "webhook.failing"
    DISABLED = "webhook.disabled"
    RECOVERED = "webhook.recovered"


def disables_at(
    failing_since: datetime | None, disabled_at: datetime | None, disable_after: timedelta
) -> datetime | None:
    """When a webhook failing since `failing_since` is disabled if it keeps failing; None
    when it is not failing or already disabled."""
    if failing_since is None or disabled_at is not None:
        return None
    return failing_since + disable_after


def alert_payload(
    *,
    alert: AlertType,
    webhook_id: str,
    url: str,
    failing_since: datetime | None,
    last_error: str | None,
    disables_at: datetime | None,
    disabled_at: datetime | None,
    occurred_at: datetime,
) -> dict[str, object]:
    """Every alert has the same keys, in this order (null where they do not apply), so a
    receiver can read them all with one schema."""
    return {
        "eventType": alert.value,
        "webhookId": webhook_id,
        "url": url,
        "failingSince": format_optional_timestamp(failing_since),
        "lastError": last_error,
        "disablesAt": format_optional_timestamp(disables_at),
        "disabledAt": format_optional_timestamp(disabled_at),
        "timestamp": format_timestamp(occurred_at),
    }
