"""Reading the database behind the API's back: what the dispatcher stored, for assertions.

The async probes read through a Hub's database; the synchronous ones open their own engine
on a URL, for tests that run the service in a subprocess."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from dlrhub.store.database import Database
from dlrhub.store.engine import create_engine
from dlrhub.store.schema import deliveries, delivery_attempts, events, messages

__all__ = [
    "attempt_rows",
    "attempts_of",
    "deliveries_of_message",
    "delivery_rows",
    "event_count",
    "message_status",
    "query",
]


async def delivery_rows(db: Database, message_id: str | None = None) -> list[Any]:
    """Deliveries (joined with their event), oldest first; only one message's if given."""
    statement = (
        select(
            deliveries.c.id,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.webhook_id,
            events.c.id.label("event_id"),
            events.c.event_type,
            events.c.message_id,
        )
        .join(events, events.c.id == deliveries.c.event_id)
        .order_by(deliveries.c.created_at, deliveries.c.id)
    )
    if message_id is not None:
        statement = statement.where(events.c.message_id == message_id)
    async with db.reading() as conn:
        return list((await conn.execute(statement)).all())


async def attempt_rows(db: Database, delivery_id: str) -> list[Any]:
    async with db.reading() as conn:
        rows = await conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.id)
        )
        return list(rows.all())


async def event_count(db: Database, message_id: str) -> int:
    async with db.reading() as conn:
        rows = await conn.execute(select(events.c.id).where(events.c.message_id == message_id))
        return len(rows.all())


async def message_status(db: Database, message_id: str) -> str:
    async with db.reading() as conn:
        value = await conn.execute(select(messages.c.status).where(messages.c.id == message_id))
        return str(value.scalar_one())


def query(database_url: str, statement: Any) -> list[Any]:
    """Run one read-only statement against a database from a synchronous test."""

    async def run() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def deliveries_of_message(database_url: str, message_id: str) -> list[Any]:
    return query(
        database_url,
        select(deliveries)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(events.c.message_id == message_id)
        .order_by(deliveries.c.created_at),
    )


def attempts_of(database_url: str, delivery_id: str) -> list[Any]:
    return query(
        database_url,
        select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id == delivery_id)
        .order_by(delivery_attempts.c.id),
    )
