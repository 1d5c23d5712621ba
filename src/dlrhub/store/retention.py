"""Deleting finished data, one small batch per transaction (SPEC §15).

What may go is decided in `dlrhub.domain.retention`; this module spells it in SQL. Each
function deletes at most `limit` rows of its kind, children first, in the caller's transaction,
and returns a cursor: batches walk a partial index oldest first, and the next batch starts
after the last row this one looked at. One pass never rescans rows it kept (a message with a
live delivery) or rows it deleted (on PostgreSQL their index entries linger until vacuum).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, exists, literal, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.store.engine import lock_skipping_locked
from dlrhub.store.schema import deliveries, delivery_attempts, events, messages

# Spelled exactly as the partial indexes' predicates in schema.py, so that both PostgreSQL
# and SQLite match them (a bound parameter would not match an index's literal).
FINISHED_DELIVERY = "status IN ('succeeded', 'dead', 'cancelled')"
FINAL_MESSAGE = "status <> 'SENT'"

Cursor = tuple[datetime, str]


@dataclass(frozen=True)
class Batch:
    """What one batch deleted (rows per table), and where the next one starts (None: done)."""

    deleted: dict[str, int]
    cursor: Cursor | None


def _oldest_first(
    query: Select[Any], moment: Column[Any], row_id: Column[Any], after: Cursor | None, limit: int
) -> Select[Any]:
    if after is not None:
        # Typed binds: the moment must be stored the way its column stores it (naive on SQLite).
        start = tuple_(literal(after[0], moment.type), literal(after[1], row_id.type))
        query = query.where(tuple_(moment, row_id) > start)
    return lock_skipping_locked(query.order_by(moment, row_id).limit(limit))


def _next(rows: Sequence[Any], limit: int) -> Cursor | None:
    if len(rows) < limit:
        return None
    return (rows[-1][0], rows[-1][1])


async def _delete(conn: AsyncConnection, table: Any, condition: ColumnElement[bool]) -> int:
    result = await conn.execute(table.delete().where(condition))
    return int(result.rowcount)


async def prune_deliveries(
    conn: AsyncConnection, cutoff: datetime, after: Cursor | None, limit: int
) -> Batch:
    """Finished deliveries last changed before `cutoff`, with their attempts."""
    query = select(deliveries.c.updated_at, deliveries.c.id).where(
        text(f"deliveries.{FINISHED_DELIVERY}"), deliveries.c.updated_at < cutoff
    )
    rows = (
        await conn.execute(
            _oldest_first(query, deliveries.c.updated_at, deliveries.c.id, after, limit)
        )
    ).all()
    ids = [row.id for row in rows]
    deleted = {"delivery_attempts": 0, "deliveries": 0}
    if ids:
        deleted["delivery_attempts"] = await _delete(
            conn, delivery_attempts, delivery_attempts.c.delivery_id.in_(ids)
        )
        deleted["deliveries"] = await _delete(conn, deliveries, deliveries.c.id.in_(ids))
    return Batch(deleted, _next(rows, limit))


def _has_delivery(event_id: ColumnElement[Any]) -> ColumnElement[bool]:
    return exists(select(deliveries.c.id).where(deliveries.c.event_id == event_id))


async def prune_messages(
    conn: AsyncConnection, cutoff: datetime, after: Cursor | None, limit: int
) -> Batch:
    """Final messages last changed before `cutoff` that the simulator is done with and none
    of whose events has a delivery left, with their events. Run after `prune_deliveries`:
    any delivery still there is live or recent, and keeps its message and event."""
    any_delivery = exists(
        select(events.c.id).where(events.c.message_id == messages.c.id, _has_delivery(events.c.id))
    )
    query = select(messages.c.updated_at, messages.c.id).where(
        text(f"messages.{FINAL_MESSAGE}"),
        messages.c.updated_at < cutoff,
        messages.c.sim_due_at.is_(None),
        ~any_delivery,
    )
    rows = (
        await conn.execute(_oldest_first(query, messages.c.updated_at, messages.c.id, after, limit))
    ).all()
    ids = [row.id for row in rows]
    deleted = {"events": 0, "messages": 0}
    if ids:
        deleted["events"] = await _delete(conn, events, events.c.message_id.in_(ids))
        deleted["messages"] = await _delete(conn, messages, messages.c.id.in_(ids))
    return Batch(deleted, _next(rows, limit))


async def prune_unattached_events(
    conn: AsyncConnection, cutoff: datetime, after: Cursor | None, limit: int
) -> Batch:
    """Events without a message (INBOUND) created before `cutoff` with no delivery left."""
    query = select(events.c.created_at, events.c.id).where(
        events.c.message_id.is_(None),
        events.c.created_at < cutoff,
        ~_has_delivery(events.c.id),
    )
    rows = (
        await conn.execute(_oldest_first(query, events.c.created_at, events.c.id, after, limit))
    ).all()
    ids = [row.id for row in rows]
    deleted = {"events": await _delete(conn, events, events.c.id.in_(ids)) if ids else 0}
    return Batch(deleted, _next(rows, limit))
