"""Rows for the retention tests: a million finished ones in seconds, and single rows by hand.

The bulk seed is set-based: one `INSERT … SELECT` per table over `generate_series` on
PostgreSQL, or a recursive CTE on SQLite, so a million rows cost a few statements instead of
a million round trips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.store.schema import (
    UTCDateTime,
    deliveries,
    delivery_attempts,
    events,
    messages,
    webhooks,
)

__all__ = [
    "Seeded",
    "add_attempt",
    "add_delivery",
    "add_event",
    "add_message",
    "add_webhook",
    "counts",
    "seed_finished",
]


@dataclass(frozen=True)
class Seeded:
    """`count` finished messages, each with one event, one delivery and one attempt."""

    count: int

    @property
    def rows(self) -> int:
        return 4 * self.count

    @staticmethod
    def customer_id(index: int) -> str:
        """The customerMessageId of the `index`th seeded message (1-based)."""
        return f"bulk-{index:08d}"


def _numbers(dialect: str) -> tuple[str, str, str]:
    """(a FROM clause yielding n = 1..:count, zero-padded n as text, n modulo 4)."""
    if dialect == "postgresql":
        return "generate_series(1, :count) AS g(n)", "lpad(n::text, 8, '0')", "n % 4"
    return "numbers", "printf('%08d', n)", "n % 4"


def _with_numbers(dialect: str, statement: str) -> str:
    if dialect == "postgresql":
        return statement
    # SQLite: INSERT takes a WITH prefix; the CTE counts 1..:count.
    prefix = (
        "WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers "
        "WHERE n < :count) "
    )
    return prefix + statement


async def seed_finished(
    conn: AsyncConnection, account_id: str, webhook_id: str, count: int, at: datetime
) -> Seeded:
    """`count` final messages last changed at `at`, each with a DELIVERY event, a finished
    delivery (succeeded, dead or cancelled) to `webhook_id` and one attempt."""
    dialect = conn.dialect.name
    numbers, padded, quarter = _numbers(dialect)
    statuses = (
        f"CASE {quarter} WHEN 0 THEN 'DELIVERED' WHEN 1 THEN 'ERROR' WHEN 2 THEN 'EXPIRED' "
        "ELSE 'READ' END"
    )
    outcome = f"CASE {quarter} WHEN 3 THEN 'dead' WHEN 2 THEN 'cancelled' ELSE 'succeeded' END"
    statements = [
        "INSERT INTO messages (id, account_id, customer_message_id, channel, destination, "
        "body, request_hash, simulation, enable_notification, total_parts, status, sent_at, "
        "updated_at) "
        f"SELECT 'bm-' || {padded}, :account, 'bulk-' || {padded}, 'SMS', '+393401234567', "
        f"'seeded', 'h', false, true, 1, {statuses}, :at, :at FROM {numbers}",
        "INSERT INTO events (id, account_id, message_id, event_type, channel, payload, "
        "report, occurred_at, created_at) "
        f"SELECT 'be-' || {padded}, :account, 'bm-' || {padded}, 'DELIVERY', 'SMS', '{{}}', "
        f"'{{}}', :at, :at FROM {numbers}",
        "INSERT INTO deliveries (id, account_id, event_id, webhook_id, status, attempts, "
        "created_at, updated_at) "
        f"SELECT 'bd-' || {padded}, :account, 'be-' || {padded}, :webhook, {outcome}, 1, "
        f":at, :at FROM {numbers}",
        "INSERT INTO delivery_attempts (delivery_id, attempted_at, duration_ms, "
        "response_status) "
        f"SELECT 'bd-' || {padded}, :at, 12, 200 FROM {numbers}",
    ]
    if dialect == "postgresql":
        # A bulk load consistent by construction: skip the per-row foreign-key triggers (the
        # setting ends with the transaction). SQLite checks them far faster, in-process.
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
    for statement in statements:
        sql = text(_with_numbers(dialect, statement)).bindparams(
            bindparam("at", type_=UTCDateTime())
        )
        await conn.execute(
            sql, {"count": count, "account": account_id, "webhook": webhook_id, "at": at}
        )
    return Seeded(count)


async def add_webhook(
    conn: AsyncConnection, webhook_id: str, account_id: str, at: datetime
) -> None:
    await conn.execute(
        webhooks.insert().values(
            id=webhook_id,
            account_id=account_id,
            kind="delivery_status",
            url="https://example.com/hook",
            method="JSON",
            parameters={},
            custom_params={},
            custom_headers={},
            created_at=at,
            updated_at=at,
        )
    )


async def add_message(
    conn: AsyncConnection,
    message_id: str,
    account_id: str,
    status: str,
    at: datetime,
    *,
    sim_due_at: datetime | None = None,
) -> None:
    """A message with `customer_message_id == message_id`, last changed at `at`."""
    await conn.execute(
        messages.insert().values(
            id=message_id,
            account_id=account_id,
            customer_message_id=message_id,
            channel="WHATSAPP",
            destination="+393401234567",
            body="hand-made",
            request_hash="h",
            simulation=sim_due_at is not None,
            enable_notification=True,
            total_parts=1,
            status=status,
            sent_at=at,
            updated_at=at,
            sim_next=None if sim_due_at is None else "READ",
            sim_due_at=sim_due_at,
        )
    )


async def add_event(
    conn: AsyncConnection, event_id: str, account_id: str, message_id: str | None, at: datetime
) -> None:
    await conn.execute(
        events.insert().values(
            id=event_id,
            account_id=account_id,
            message_id=message_id,
            event_type="DELIVERY" if message_id else "INBOUND",
            channel="WHATSAPP",
            payload=json.dumps({"seeded": True}),
            report={},
            occurred_at=at,
            created_at=at,
        )
    )


async def add_delivery(
    conn: AsyncConnection,
    delivery_id: str,
    account_id: str,
    event_id: str,
    webhook_id: str,
    status: str,
    at: datetime,
) -> None:
    """A delivery created and last changed at `at`, due then if it is still to send."""
    await conn.execute(
        deliveries.insert().values(
            id=delivery_id,
            account_id=account_id,
            event_id=event_id,
            webhook_id=webhook_id,
            status=status,
            attempts=1,
            next_attempt_at=at if status in ("pending", "failed") else None,
            created_at=at,
            updated_at=at,
        )
    )


async def add_attempt(conn: AsyncConnection, delivery_id: str, at: datetime) -> None:
    await conn.execute(
        delivery_attempts.insert().values(
            delivery_id=delivery_id, attempted_at=at, duration_ms=5, response_status=500
        )
    )


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows per table that retention deletes from."""
    tables = {
        "messages": messages,
        "events": events,
        "deliveries": deliveries,
        "delivery_attempts": delivery_attempts,
    }
    return {
        name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
        for name, table in tables.items()
    }
