"""Reading the delivery log (SPEC §9) and requeueing deliveries for replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.delivery_state import REPLAYABLE, DeliveryState
from dlrhub.store.engine import DELIVERIES_CHANNEL, notify
from dlrhub.store.schema import deliveries, delivery_attempts, events, webhooks


def _view_query() -> Select[Any]:
    return (
        select(
            deliveries.c.id,
            deliveries.c.event_id,
            deliveries.c.webhook_id,
            webhooks.c.kind.label("webhook_kind"),
            webhooks.c.deleted_at.label("webhook_deleted_at"),
            webhooks.c.disabled_at.label("webhook_disabled_at"),
            events.c.event_type,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.next_attempt_at,
            deliveries.c.created_at,
        )
        .join(events, events.c.id == deliveries.c.event_id)
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
    )


async def page(
    conn: AsyncConnection,
    account_id: str,
    *,
    status: str | None,
    webhook_id: str | None,
    webhook_kind: str | None,
    since: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Any]:
    """Newest first, keyset-paginated on (created_at, id): rows strictly after `after`."""
    query = _view_query().where(deliveries.c.account_id == account_id)
    if status is not None:
        query = query.where(deliveries.c.status == status)
    if webhook_id is not None:
        query = query.where(deliveries.c.webhook_id == webhook_id)
    if webhook_kind is not None:
        query = query.where(webhooks.c.kind == webhook_kind)
    if since is not None:
        query = query.where(deliveries.c.created_at >= since)
    if after is not None:
        created_at, delivery_id = after
        query = query.where(
            or_(
                deliveries.c.created_at < created_at,
                and_(deliveries.c.created_at == created_at, deliveries.c.id < delivery_id),
            )
        )
    query = query.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit)
    return list((await conn.execute(query)).all())


async def one(conn: AsyncConnection, account_id: str, delivery_id: str) -> Any | None:
    query = _view_query().where(
        deliveries.c.account_id == account_id, deliveries.c.id == delivery_id
    )
    return (await conn.execute(query)).first()


async def attempts(conn: AsyncConnection, delivery_id: str) -> list[Any]:
    rows = await conn.execute(
        select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id == delivery_id)
        .order_by(delivery_attempts.c.attempted_at, delivery_attempts.c.id)
    )
    return list(rows.all())


async def requeue(conn: AsyncConnection, delivery_id: str, now: datetime) -> None:
    """Make one delivery due now, whatever its state. A lease in flight is kept, so no
    second worker sends it at the same time; that attempt's outcome then decides."""
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(status=DeliveryState.PENDING, next_attempt_at=now, updated_at=now)
    )
    await notify(conn, DELIVERIES_CHANNEL)  # wakes workers in other processes on commit


async def requeue_failed(
    conn: AsyncConnection, account_id: str, webhook_id: str, since: datetime, now: datetime
) -> int:
    """Make every failed or dead delivery to `webhook_id` created since `since` due now."""
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.account_id == account_id,
            deliveries.c.webhook_id == webhook_id,
            deliveries.c.status.in_(REPLAYABLE),
            deliveries.c.created_at >= since,
        )
        .values(status=DeliveryState.PENDING, next_attempt_at=now, updated_at=now)
    )
    if result.rowcount:
        await notify(conn, DELIVERIES_CHANNEL)
    return int(result.rowcount)
