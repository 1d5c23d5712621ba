"""Read-only queries behind the dashboard's summaries: health, message history, attempt logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Case, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.delivery_state import SENDABLE
from dlrhub.domain.routing import DELIVERY_STATUS_ID
from dlrhub.store.schema import deliveries, delivery_attempts, events, webhooks
from dlrhub.store.webhooks import DELIVERY_STATUS


@dataclass(frozen=True)
class WebhookHealthRow:
    webhook_id: str  # "delivery-status" for the account's delivery-status webhook
    url: str
    disabled: bool
    failing_since: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None


@dataclass(frozen=True)
class EventRow:
    id: str
    event_type: str
    payload: str
    occurred_at: datetime


@dataclass(frozen=True)
class EventDeliveryRow:
    event_id: str
    delivery_id: str
    webhook_id: str
    status: str
    attempts: int


@dataclass(frozen=True)
class AttemptRow:
    delivery_id: str
    attempted_at: datetime
    duration_ms: int
    response_status: int | None
    response_body: str | None
    error: str | None


def _public_webhook_id() -> Case[Any]:
    """`public_webhook_id` in SQL: the delivery-status webhook has a fixed name."""
    return case((webhooks.c.kind == DELIVERY_STATUS, DELIVERY_STATUS_ID), else_=webhooks.c.id)


async def pending_count(conn: AsyncConnection, account_id: str) -> int:
    count = (
        await conn.execute(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.account_id == account_id, deliveries.c.status.in_(SENDABLE))
        )
    ).scalar_one()
    return int(count)


async def webhook_health(conn: AsyncConnection, account_id: str) -> list[WebhookHealthRow]:
    """Every live webhook with its latest successful and failed attempt, as the dispatcher
    records them on the webhook itself (no scan of the attempt log)."""
    rows = await conn.execute(
        select(
            _public_webhook_id().label("public_id"),
            webhooks.c.url,
            webhooks.c.disabled_at,
            webhooks.c.failing_since,
            webhooks.c.last_success_at,
            webhooks.c.last_failure_at,
        )
        .where(webhooks.c.account_id == account_id, webhooks.c.deleted_at.is_(None))
        .order_by(webhooks.c.created_at, webhooks.c.id)
    )
    return [
        WebhookHealthRow(
            webhook_id=row.public_id,
            url=row.url,
            disabled=row.disabled_at is not None,
            failing_since=row.failing_since,
            last_success_at=row.last_success_at,
            last_failure_at=row.last_failure_at,
        )
        for row in rows
    ]


async def message_events(
    conn: AsyncConnection, account_id: str, message_id: str
) -> tuple[list[EventRow], list[EventDeliveryRow]]:
    """The events a message produced, oldest first, and the deliveries of each."""
    event_rows = await conn.execute(
        select(events.c.id, events.c.event_type, events.c.payload, events.c.occurred_at)
        .where(events.c.account_id == account_id, events.c.message_id == message_id)
        .order_by(events.c.occurred_at, events.c.created_at)
    )
    found = [
        EventRow(id=r.id, event_type=r.event_type, payload=r.payload, occurred_at=r.occurred_at)
        for r in event_rows
    ]
    if not found:
        return [], []
    delivery_rows = await conn.execute(
        select(
            deliveries.c.event_id,
            deliveries.c.id,
            _public_webhook_id().label("public_id"),
            deliveries.c.status,
            deliveries.c.attempts,
        )
        .select_from(deliveries.join(webhooks))
        .where(
            deliveries.c.account_id == account_id,
            deliveries.c.event_id.in_([e.id for e in found]),
        )
        .order_by(deliveries.c.created_at, deliveries.c.id)
    )
    return found, [
        EventDeliveryRow(
            event_id=r.event_id,
            delivery_id=r.id,
            webhook_id=r.public_id,
            status=r.status,
            attempts=r.attempts,
        )
        for r in delivery_rows
    ]


async def attempts_of(
    conn: AsyncConnection, account_id: str, delivery_ids: Sequence[str]
) -> list[AttemptRow]:
    """The attempt log of several deliveries at once (oldest attempt first)."""
    if not delivery_ids:
        return []
    rows = await conn.execute(
        select(delivery_attempts)
        .select_from(delivery_attempts.join(deliveries))
        .where(
            deliveries.c.account_id == account_id,
            delivery_attempts.c.delivery_id.in_(list(delivery_ids)),
        )
        .order_by(delivery_attempts.c.attempted_at, delivery_attempts.c.id)
    )
    return [
        AttemptRow(
            delivery_id=r.delivery_id,
            attempted_at=r.attempted_at,
            duration_ms=r.duration_ms,
            response_status=r.response_status,
            response_body=r.response_body,
            error=r.error,
        )
        for r in rows
    ]
