"""Typed records the store hands to services (instead of untyped result rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dlrhub.domain.status import Channel, MessageStatus


@dataclass(frozen=True)
class MessageRecord:
    id: str
    account_id: str
    customer_message_id: str
    channel: Channel
    destination: str
    sender: str | None
    phone_number_id: str | None
    body: str
    request_hash: str
    simulation: bool
    enable_notification: bool
    total_parts: int
    status: MessageStatus
    error: str | None
    sent_at: datetime
    delivered_at: datetime | None
    read_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> MessageRecord:
        return cls(
            id=row.id,
            account_id=row.account_id,
            customer_message_id=row.customer_message_id,
            channel=Channel(row.channel),
            destination=row.destination,
            sender=row.sender,
            phone_number_id=row.phone_number_id,
            body=row.body,
            request_hash=row.request_hash,
            simulation=row.simulation,
            enable_notification=row.enable_notification,
            total_parts=row.total_parts,
            status=MessageStatus(row.status),
            error=row.error,
            sent_at=row.sent_at,
            delivered_at=row.delivered_at,
            read_at=row.read_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class WebhookRecord:
    id: str
    account_id: str
    kind: str
    url: str
    product: str | None
    report_type: str | None
    method: str
    waba_number: str | None
    parameters: dict[str, str]
    custom_params: dict[str, str]
    custom_headers: dict[str, str]
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    # "message": a message's events reach it in order (docs/ordering.md); "none": parallel.
    ordering: str = "message"

    @classmethod
    def from_row(cls, row: Any) -> WebhookRecord:
        return cls(
            id=row.id,
            account_id=row.account_id,
            kind=row.kind,
            url=row.url,
            product=row.product,
            report_type=row.report_type,
            method=row.method,
            waba_number=row.waba_number,
            parameters=dict(row.parameters or {}),
            custom_params=dict(row.custom_params or {}),
            custom_headers=dict(row.custom_headers or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            ordering=row.ordering,
        )


@dataclass(frozen=True)
class DeliveryJob:
    """Everything the dispatcher needs to make one attempt, loaded with the claim."""

    delivery_id: str
    attempts: int
    account_id: str
    event_id: str
    event_type: str
    payload: str
    webhook: WebhookRecord
    # The values richer webhooks send (SPEC §8), fixed when the event was stored.
    webhook_values: dict[str, str]
    secrets: list[str] = field(default_factory=list)
    # The event's message: its later events to this webhook wait for this one (ordering).
    message_id: str | None = None


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt did, and what the delivery becomes because of it."""

    delivery_id: str
    webhook_id: str
    attempted_at: datetime
    duration_ms: int
    response_status: int | None
    response_body: str | None
    error: str | None
    new_status: str
    attempts: int
    next_attempt_at: datetime | None
    message_id: str | None = None


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as listed: never its secret, nor its hash."""

    id: str
    account_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
