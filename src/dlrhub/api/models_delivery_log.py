"""Bodies of the delivery log and of replaying it (SPEC §9)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from dlrhub.domain.timestamps import format_optional_timestamp, format_timestamp
from dlrhub.services.deliveries import AttemptView, DeliveryDetail, DeliveryView


class DeliveryItem(BaseModel):
    id: str
    eventId: str
    webhookId: str = Field(description="A webhook id, or delivery-status.")
    eventType: str
    status: str = Field(description="pending, succeeded, failed (will retry), dead, cancelled.")
    attempts: int
    nextAttemptAt: str | None
    createdAt: str

    @classmethod
    def of(cls, view: DeliveryView) -> DeliveryItem:
        return cls(
            id=view.id,
            eventId=view.event_id,
            webhookId=view.webhook_id,
            eventType=view.event_type,
            status=view.status,
            attempts=view.attempts,
            nextAttemptAt=format_optional_timestamp(view.next_attempt_at),
            createdAt=format_timestamp(view.created_at),
        )


class DeliveryList(BaseModel):
    items: list[DeliveryItem]
    nextCursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class AttemptItem(BaseModel):
    attemptedAt: str
    durationMs: int
    responseStatus: int | None
    responseBody: str | None = Field(description="The first 1 KiB of the response.")
    error: str | None

    @classmethod
    def of(cls, attempt: AttemptView) -> AttemptItem:
        return cls(
            attemptedAt=format_timestamp(attempt.attempted_at),
            durationMs=attempt.duration_ms,
            responseStatus=attempt.response_status,
            responseBody=attempt.response_body,
            error=attempt.error,
        )


class DeliveryDetailView(DeliveryItem):
    attemptLog: list[AttemptItem]

    @classmethod
    def of_detail(cls, detail: DeliveryDetail) -> DeliveryDetailView:
        item = DeliveryItem.of(detail.delivery)
        return cls(**item.model_dump(), attemptLog=[AttemptItem.of(a) for a in detail.attempts])


class RecoverRequest(BaseModel):
    since: datetime = Field(description="ISO 8601; without an offset it is read as UTC.")


class RecoverResponse(BaseModel):
    requeued: int = Field(description="How many failed or dead deliveries were requeued.")
