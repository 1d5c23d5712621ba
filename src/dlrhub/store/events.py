"""Writing an event and its deliveries: the outbox half of the one-transaction rule."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.store.engine import DELIVERIES_CHANNEL, notify
from dlrhub.store.schema import deliveries, events


async def insert_event_with_deliveries(
    conn: AsyncConnection,
    *,
    event_id: str,
    account_id: str,
    message_id: str | None,
    event_type: str,
    channel: str,
    business_number: str | None,
    payload: str,
    occurred_at: datetime,
    webhook_ids: Sequence[str],
    now: datetime,
    report: Mapping[str, str] | None = None,
) -> None:
    await conn.execute(
        events.insert().values(
            report=None if report is None else dict(report),
            id=event_id,
            account_id=account_id,
            message_id=message_id,
            event_type=event_type,
            channel=channel,
            business_number=business_number,
            payload=payload,
            occurred_at=occurred_at,
            created_at=now,
        )
    )
    if not webhook_ids:
        return
    await conn.execute(
        deliveries.insert(),
        [
            {
                "id": str(uuid.uuid4()),
                "account_id": account_id,
                "event_id": event_id,
                "webhook_id": webhook_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for webhook_id in webhook_ids
        ],
    )
    await notify(conn, DELIVERIES_CHANNEL)
