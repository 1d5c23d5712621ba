"""The catch-up feed's SQL (docs/catch-up.md): giving committed events their position, and
reading an account's events in position order.

Positions are never given at insert: concurrent transactions commit out of id (and insert)
order, so a number taken at insert could be read past before a smaller one commits. They are
given here instead, after the commit, by one sequencer at a time (`lock_sequencer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.store.schema import events

# Any fixed 64-bit number, distinct from the migration lock's (store/engine.py).
_SEQUENCER_LOCK_KEY = 0x646C72687562E5


async def lock_sequencer(conn: AsyncConnection) -> None:
    """Make this transaction the only sequencer until it ends.

    PostgreSQL: a transaction advisory lock, released by the commit. It must be taken before
    `max_position` is read: under READ COMMITTED the next statement's snapshot then includes
    the previous sequencer's commit. SQLite: `BEGIN IMMEDIATE` (store/engine.py) already gave
    this transaction the database's only write lock.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"SELECT pg_advisory_xact_lock({_SEQUENCER_LOCK_KEY})"))


async def max_position(conn: AsyncConnection) -> int | None:
    """The highest position given so far among the stored events (None: none has one)."""
    value = (await conn.execute(select(func.max(events.c.position)))).scalar_one()
    return None if value is None else int(value)


async def has_unpositioned(conn: AsyncConnection) -> bool:
    """Whether any committed event still waits for its position (the partial index)."""
    query = select(events.c.id).where(events.c.position.is_(None)).limit(1)
    return (await conn.execute(query)).first() is not None


async def unpositioned(conn: AsyncConnection, limit: int) -> list[str]:
    """Ids of up to `limit` committed events without a position, in creation order."""
    query = (
        select(events.c.id)
        .where(events.c.position.is_(None))
        .order_by(events.c.created_at, events.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


async def assign_positions(conn: AsyncConnection, ids: Sequence[str], first: int) -> None:
    """Give `ids[i]` the position `first + i` (one statement, executed for every row).

    `position IS NULL` is checked again: an event is positioned once, whatever happens."""
    if not ids:
        return
    statement = (
        update(events)
        .where(events.c.id == bindparam("event_id"), events.c.position.is_(None))
        .values(position=bindparam("new_position"))
    )
    await conn.execute(
        statement,
        [
            {"event_id": event_id, "new_position": first + offset}
            for offset, event_id in enumerate(ids)
        ],
    )


async def page(conn: AsyncConnection, account_id: str, after: int | None, limit: int) -> list[Any]:
    """Up to `limit` of the account's positioned events after position `after` (None: from
    the first), in position order (ix_events_account_position)."""
    query = (
        select(
            events.c.id,
            events.c.position,
            events.c.event_type,
            events.c.message_id,
            events.c.created_at,
            events.c.payload,
        )
        .where(events.c.account_id == account_id, events.c.position.is_not(None))
        .order_by(events.c.position)
        .limit(limit)
    )
    if after is not None:
        query = query.where(events.c.position > after)
    return list(await conn.execute(query))


def position_floor(now: datetime) -> int:
    """Where numbering starts when no stored event has a position: microseconds since the
    epoch. Retention may have deleted every event; starting again at 1 would hand out
    positions a receiver's saved cursor has already passed, so a fresh start begins above
    every position given before (positions grow by one per event, far slower than time)."""
    return int(now.timestamp() * 1_000_000)
