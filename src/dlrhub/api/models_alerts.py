"""Bodies of the account's alerts URL (docs/alerts.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from dlrhub.domain.timestamps import format_optional_timestamp, format_timestamp
from dlrhub.store.records import WebhookRecord


class AlertsUrlRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"url": "https://ops.example.com/dlrhub-alerts"}]}
    )

    url: StrictStr = Field(
        description="HTTPS URL that receives webhook.failing, webhook.disabled and "
        "webhook.recovered events (same URL rules and signatures as every webhook)."
    )


class AlertsUrlView(BaseModel):
    url: str
    createdAt: str
    updatedAt: str
    disabledAt: str | None = Field(
        description="Set when the alerts URL itself failed continuously and dlrhub stopped "
        "sending to it (no alert is sent about it); PUT it again to enable it."
    )
    disabledReason: str | None

    @classmethod
    def of(cls, webhook: WebhookRecord) -> AlertsUrlView:
        return cls(
            url=webhook.url,
            createdAt=format_timestamp(webhook.created_at),
            updatedAt=format_timestamp(webhook.updated_at),
            disabledAt=format_optional_timestamp(webhook.disabled_at),
            disabledReason=webhook.disabled_reason,
        )
