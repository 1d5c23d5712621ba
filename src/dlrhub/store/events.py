"""Writing events and their deliveries: the outbox half of the one-transaction rule."""

from __future__ import annotations

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


async def insert_events(
    conn: AsyncConnection, new_events: Sequence[NewEvent], now: datetime
) -> int:
    """Store the events and one pending delivery per (event, webhook), due now, in two
    statements however many there are; returns the number of deliveries queued."""
    if not new_events:
        return 0
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
    rows = [
        {
            "id": new_id(),
            "account_id": event.account_id,
            "event_id": event.id,
            "webhook_id": webhook_id,
            "status": DeliveryState.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for event in new_events
        for webhook_id in event.webhook_ids
    ]
    if rows:
        await conn.execute(deliveries.insert(), rows)
        await notify(conn, DELIVERIES_CHANNEL)
    return len(rows)
