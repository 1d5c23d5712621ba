"""Writing events and their deliveries: the outbox half of the one-transaction rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.delivery_state import DeliveryState
from dlrhub.domain.row_ids import new_id
from dlrhub.store.engine import DELIVERIES_CHANNEL, notify
from dlrhub.store.schema import SENDABLE_PREDICATE, deliveries, events


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
    # Its place among its message's events (1, 2, …); None for events without a message.
    sequence: int | None = None


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
    unordered_webhooks: Collection[str] = (),
) -> list[StoredDelivery]:
    """Store the events and one pending delivery per (event, webhook), due now, in two
    statements however many there are; returns the deliveries.

    Deliveries to `lease`'s webhooks are leased to its worker at once, except those that must
    wait for an earlier event of their message to the same webhook (ordering: that one is
    still to send, or comes earlier in this batch), which are queued like the others for any
    worker, which the commit wakes (PostgreSQL NOTIFY)."""
    if not new_events:
        return []
    waiting = await _waiting_pairs(conn, new_events, unordered_webhooks) if lease else set()
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
                "sequence": event.sequence,
            }
            for event in new_events
        ],
    )
    left = Counter(lease.counts if lease is not None else {})
    stored: list[StoredDelivery] = []
    for event in new_events:
        for webhook_id in event.webhook_ids:
            pair = (webhook_id, event.message_id)
            leased = left[webhook_id] > 0 and pair not in waiting
            left[webhook_id] -= leased
            stored.append(StoredDelivery(new_id(), event, webhook_id, leased))
            if event.message_id is not None and webhook_id not in unordered_webhooks:
                waiting.add(pair)  # this batch's later events of the message wait for it
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
                    "message_id": delivery.event.message_id,
                    "sequence": delivery.event.sequence,
                }
                for delivery in stored
            ],
        )
    if any(not delivery.leased for delivery in stored):
        await notify(conn, DELIVERIES_CHANNEL)
    return stored


async def _waiting_pairs(
    conn: AsyncConnection, new_events: Sequence[NewEvent], unordered_webhooks: Collection[str]
) -> set[tuple[str, str | None]]:
    """(webhook, message) pairs of these events that already have a delivery still to send:
    their new deliveries must wait for it, so they are not handed over."""
    message_ids = sorted({e.message_id for e in new_events if e.message_id is not None})
    if not message_ids:
        return set()
    rows = await conn.execute(
        select(deliveries.c.webhook_id, deliveries.c.message_id)
        .where(
            deliveries.c.message_id.in_(message_ids),
            text(f"deliveries.message_id IS NOT NULL AND deliveries.{SENDABLE_PREDICATE}"),
        )
        .distinct()
    )
    return {
        (row.webhook_id, row.message_id) for row in rows if row.webhook_id not in unordered_webhooks
    }


async def last_sequences(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, int]:
    """The highest event sequence of each of these messages (absent: none yet)."""
    if not message_ids:
        return {}
    rows = await conn.execute(
        select(events.c.message_id, func.max(events.c.sequence))
        .where(events.c.message_id.in_(sorted(set(message_ids))))
        .group_by(events.c.message_id)
    )
    return {row[0]: int(row[1]) for row in rows if row[1] is not None}
