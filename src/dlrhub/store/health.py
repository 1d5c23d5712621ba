"""Queries on webhook health: failure streaks, automatic disabling, re-enabling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.store.schema import accounts, webhooks
from dlrhub.store.webhooks import DELIVERY_STATUS


async def failing_webhooks(conn: AsyncConnection) -> list[Any]:
    """(id, account name, url, failing_since, disabled_at, disabled_reason), longest first."""
    rows = await conn.execute(
        select(
            webhooks.c.id,
            accounts.c.name,
            webhooks.c.url,
            webhooks.c.failing_since,
            webhooks.c.disabled_at,
            webhooks.c.disabled_reason,
        )
        .join(accounts, accounts.c.id == webhooks.c.account_id)
        .where(
            webhooks.c.deleted_at.is_(None),
            webhooks.c.failing_since.is_not(None) | webhooks.c.disabled_at.is_not(None),
        )
        .order_by(func.coalesce(webhooks.c.failing_since, webhooks.c.disabled_at))
    )
    return list(rows)


async def enable_webhook(
    conn: AsyncConnection, account_id: str, webhook_id: str | None, now: datetime
) -> bool:
    """Clear a webhook's disabled state and streak; `webhook_id` None means the account's
    delivery-status webhook. False when there is no such webhook."""
    which = (
        webhooks.c.kind == DELIVERY_STATUS if webhook_id is None else webhooks.c.id == webhook_id
    )
    result = await conn.execute(
        update(webhooks)
        .where(which, webhooks.c.account_id == account_id, webhooks.c.deleted_at.is_(None))
        .values(disabled_at=None, disabled_reason=None, failing_since=None, updated_at=now)
    )
    return bool(result.rowcount)
