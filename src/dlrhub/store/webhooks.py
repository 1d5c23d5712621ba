"""Queries on webhooks: the account's delivery-status webhook, its richer webhooks and its
alerts webhook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.delivery_state import SENDABLE, DeliveryState
from dlrhub.domain.routing import DELIVERY_STATUS_ID
from dlrhub.store.engine import lock_rows
from dlrhub.store.records import WebhookRecord
from dlrhub.store.schema import accounts, deliveries, webhooks

DELIVERY_STATUS = "delivery_status"
# `ordering` of a webhook that gets a message's events in parallel (docs/ordering.md).
ORDERING_NONE = "none"
ORDERING_MESSAGE = "message"
RICHER = "richer"  # migration 0007 renamed the stored "custom"
ALERTS = "alerts"  # operational events only (docs/alerts.md)


async def insert_webhook(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(webhooks.insert().values(**values))


async def delivery_status_webhook(conn: AsyncConnection, account_id: str) -> WebhookRecord | None:
    row = (
        await conn.execute(
            select(webhooks).where(
                webhooks.c.account_id == account_id,
                webhooks.c.kind == DELIVERY_STATUS,
                webhooks.c.deleted_at.is_(None),
            )
        )
    ).first()
    return None if row is None else WebhookRecord.from_row(row)


async def richer_webhook(
    conn: AsyncConnection, account_id: str, webhook_id: str
) -> WebhookRecord | None:
    row = (
        await conn.execute(
            select(webhooks).where(
                webhooks.c.id == webhook_id,
                webhooks.c.account_id == account_id,
                webhooks.c.kind == RICHER,
                webhooks.c.deleted_at.is_(None),
            )
        )
    ).first()
    return None if row is None else WebhookRecord.from_row(row)


async def webhook_by_public_id(
    conn: AsyncConnection, account_id: str, public_id: str
) -> WebhookRecord | None:
    """The account's webhook the API names `public_id` (a row id or DELIVERY_STATUS_ID)."""
    if public_id == DELIVERY_STATUS_ID:
        return await delivery_status_webhook(conn, account_id)
    return await richer_webhook(conn, account_id, public_id)


async def richer_webhooks(conn: AsyncConnection, account_id: str) -> list[WebhookRecord]:
    rows = await conn.execute(
        select(webhooks)
        .where(
            webhooks.c.account_id == account_id,
            webhooks.c.kind == RICHER,
            webhooks.c.deleted_at.is_(None),
        )
        .order_by(webhooks.c.created_at, webhooks.c.id)
    )
    return [WebhookRecord.from_row(row) for row in rows]


async def count_richer_webhooks_locked(conn: AsyncConnection, account_id: str) -> int:
    """The account's live richer webhooks, counted with the account row locked until the
    transaction ends (PostgreSQL `FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` already serialises
    writers), so that two concurrent creates cannot both see room for one more."""
    await conn.execute(lock_rows(select(accounts.c.id).where(accounts.c.id == account_id)))
    count = await conn.scalar(
        select(func.count())
        .select_from(webhooks)
        .where(
            webhooks.c.account_id == account_id,
            webhooks.c.kind == RICHER,
            webhooks.c.deleted_at.is_(None),
        )
    )
    return int(count or 0)


async def candidate_webhooks_of(
    conn: AsyncConnection, account_ids: Sequence[str]
) -> dict[str, list[WebhookRecord]]:
    """Live, enabled webhooks of each account (any channel): one query for a batch of
    events; the domain decides which webhook wants which event. The alerts webhook is left
    out: a message's events never go to it (domain/routing.py)."""
    rows = await conn.execute(
        select(webhooks).where(
            webhooks.c.account_id.in_(list(account_ids)),
            webhooks.c.deleted_at.is_(None),
            webhooks.c.disabled_at.is_(None),
            webhooks.c.kind != ALERTS,
        )
    )
    found: dict[str, list[WebhookRecord]] = {account_id: [] for account_id in account_ids}
    for row in rows:
        found[row.account_id].append(WebhookRecord.from_row(row))
    return found


async def alerts_webhook(conn: AsyncConnection, account_id: str) -> WebhookRecord | None:
    row = (
        await conn.execute(
            select(webhooks).where(
                webhooks.c.account_id == account_id,
                webhooks.c.kind == ALERTS,
                webhooks.c.deleted_at.is_(None),
            )
        )
    ).first()
    return None if row is None else WebhookRecord.from_row(row)


async def enabled_alerts_webhooks(
    conn: AsyncConnection, account_ids: Sequence[str]
) -> list[WebhookRecord]:
    """The live, enabled alerts webhooks of these accounts (at most one each)."""
    rows = await conn.execute(
        select(webhooks).where(
            webhooks.c.account_id.in_(list(account_ids)),
            webhooks.c.kind == ALERTS,
            webhooks.c.deleted_at.is_(None),
            webhooks.c.disabled_at.is_(None),
        )
    )
    return [WebhookRecord.from_row(row) for row in rows]


@dataclass(frozen=True)
class TroubledWebhook:
    """A live webhook that is failing or disabled, as the dashboard's banner shows it."""

    id: str
    kind: str
    url: str
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    last_error: str | None


async def troubled_webhooks(conn: AsyncConnection, account_id: str) -> list[TroubledWebhook]:
    """The account's failing or disabled webhooks, each with the error of its latest failed
    attempt (newest deliveries first on the webhook's index, stopping at the first with an
    error: those not yet tried are passed over)."""
    last_error = (
        select(deliveries.c.last_error)
        .where(deliveries.c.webhook_id == webhooks.c.id, deliveries.c.last_error.is_not(None))
        .order_by(deliveries.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(
            webhooks.c.id,
            webhooks.c.kind,
            webhooks.c.url,
            webhooks.c.failing_since,
            webhooks.c.disabled_at,
            webhooks.c.disabled_reason,
            last_error.label("last_error"),
        )
        .where(
            webhooks.c.account_id == account_id,
            webhooks.c.deleted_at.is_(None),
            webhooks.c.failing_since.is_not(None) | webhooks.c.disabled_at.is_not(None),
        )
        .order_by(webhooks.c.created_at, webhooks.c.id)
    )
    return [TroubledWebhook(*row) for row in rows]


async def update_webhook(conn: AsyncConnection, webhook_id: str, values: dict[str, Any]) -> None:
    await conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(**values))


async def delete_webhook(conn: AsyncConnection, webhook_id: str, now: datetime) -> None:
    """Soft-delete, and cancel what is still queued for it: nothing new is sent."""
    await conn.execute(
        update(webhooks).where(webhooks.c.id == webhook_id).values(deleted_at=now, updated_at=now)
    )
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.webhook_id == webhook_id, deliveries.c.status.in_(SENDABLE))
        .values(status=DeliveryState.CANCELLED, next_attempt_at=None, updated_at=now)
    )
