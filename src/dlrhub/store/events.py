"""Writing events and their deliveries: the outbox half of the one-transaction rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.delivery_state import DeliveryState
from dlrhub.domain.row_ids import new_id
from dlrhub.store.engine import DELIVERIES_CHANNEL, notify
from dlrhub.store.schema import deliveries, events


@dataclass(frozen=True)
class NewEvent:
    """An event to store, and the webhooks that get a delivery of it."""

    id: str
    account_id: str
    message_id: str | None
    event_type: str
    channel: str
    business_number: str | None
    payload: str
    occurred_at: datetime
    webhook_ids: Sequence[str]
    # Stored in the `report` column (its name since migration 0002).
    webhook_values: Mapping[str, str]


@dataclass(frozen=True)
class DeliveryLease:
    """Up to `counts[webhook]` deliveries to each webhook are inserted leased to `worker`
    (services/handover.py)."""

    worker: str
    until: datetime
    counts: Mapping[str, int]


@dataclass(frozen=True)
class StoredDelivery:
    id: str
    event: NewEvent
    webhook_id: str
    leased: bool


async def insert_events(
    conn: AsyncConnection,
    new_events: Sequence[NewEvent],
    now: datetime,
    *,
    lease: DeliveryLease | None = None,
) -> list[StoredDelivery]:
    """Store the events and one pending delivery per (event, webhook), due now, in two
    statements however many there are; returns the deliveries.

    Deliveries to `lease`'s webhooks are leased to its worker at once; the others are queued
    for any worker, which the commit wakes (PostgreSQL NOTIFY)."""
    if not new_events:
        return []
    await conn.execute(
        events.insert(),
        [
            {
                "id": event.id,
                "account_id": event.account_id,
                "message_id": event.message_id,
                "event_type": event.event_type,
                "channel": event.channel,
                "business_number": event.business_number,
                "payload": event.payload,
                "report": dict(event.webhook_values),
                "occurred_at": event.occurred_at,
                "created_at": now,
            }
            for event in new_events
        ],
    )
    left = Counter(lease.counts if lease is not None else {})
    stored: list[StoredDelivery] = []
    for event in new_events:
        for webhook_id in event.webhook_ids:
            leased = left[webhook_id] > 0
            left[webhook_id] -= leased
            stored.append(StoredDelivery(new_id(), event, webhook_id, leased))
    if stored:
        await conn.execute(
            deliveries.insert(),
            [
                {
                    "id": delivery.id,
                    "account_id": delivery.event.account_id,
                    "event_id": delivery.event.id,
                    "webhook_id": delivery.webhook_id,
                    "status": DeliveryState.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "lease_expires_at": lease.until if lease and delivery.leased else None,
                    "leased_by": lease.worker if lease and delivery.leased else None,
                    "created_at": now,
                    "updated_at": now,
                }
                for delivery in stored
            ],
        )
    if any(not delivery.leased for delivery in stored):
        await notify(conn, DELIVERIES_CHANNEL)
    return stored
