"""Deleting finished data, one small batch per transaction (SPEC §15).

What may go is decided in `dlrhub.domain.retention`; this module spells it in SQL. Each
function deletes at most `limit` rows of its kind, children first, in the caller's transaction,
and returns a cursor: batches walk a partial index oldest first, and the next batch starts
after the last row this one looked at. One pass never rescans rows it kept (a message with a
live delivery) or rows it deleted (on PostgreSQL their index entries linger until vacuum).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    TextClause,
    exists,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.store.engine import lock_skipping_locked
from dlrhub.store.schema import (
    FINISHED_PREDICATE,
    deliveries,
    delivery_attempts,
    events,
    messages,
)

# Spelled exactly as the partial indexes' predicates in schema.py (FINISHED_PREDICATE too), so
# that both PostgreSQL and SQLite match them (a bound parameter would not match an index's
# literal).
FINAL_MESSAGE = "status <> 'SENT'"
INBOUND_EVENT = "event_type = 'INBOUND'"

Cursor = tuple[datetime, str]


@dataclass(frozen=True)
class Batch:
    """What one batch deleted (rows per table), and where the next one starts (None: done)."""

    deleted: dict[str, int]
    cursor: Cursor | None


async def _window(
    conn: AsyncConnection,
    query: Select[Any],
    moment: Column[Any],
    row_id: Column[Any],
    after: Cursor | None,
    limit: int,
) -> tuple[list[str], Cursor | None]:
    """The next `limit` candidates in index order, and the cursor after them.

    Only what the index holds is asked here, so a batch reads at most `limit` index entries
    however many of them turn out to be kept: a long run of messages held back by live
    deliveries costs a few batches, never one long transaction.
    """
    if after is not None:
        # Typed binds: the moment must be stored the way its column stores it (naive on SQLite).
        start = tuple_(literal(after[0], moment.type), literal(after[1], row_id.type))
        query = query.where(tuple_(moment, row_id) > start)
    rows = (await conn.execute(query.order_by(moment, row_id).limit(limit))).all()
    cursor = None if len(rows) < limit else (rows[-1][0], rows[-1][1])
    return [row[1] for row in rows], cursor


async def _lock(
    conn: AsyncConnection, table: Any, ids: list[str], *conditions: ColumnElement[bool] | TextClause
) -> list[str]:
    """Those of `ids` that still qualify, locked until the batch commits. Re-checked under
    the lock: a row changed since the window was read (a replay) is judged as it is now."""
    if not ids:
        return []
    query = select(table.c.id).where(table.c.id.in_(ids), *conditions)
    return list((await conn.execute(lock_skipping_locked(query))).scalars())


async def _delete(conn: AsyncConnection, table: Any, condition: ColumnElement[bool]) -> int:
    result = await conn.execute(table.delete().where(condition))
    return int(result.rowcount)


async def prune_deliveries(
    conn: AsyncConnection, cutoff: datetime, after: Cursor | None, limit: int
) -> Batch:
    """Finished deliveries last changed before `cutoff`, with their attempts."""
    finished = (text(f"deliveries.{FINISHED_PREDICATE}"), deliveries.c.updated_at < cutoff)
    window = select(deliveries.c.updated_at, deliveries.c.id).where(*finished)
    ids, cursor = await _window(
        conn, window, deliveries.c.updated_at, deliveries.c.id, after, limit
    )
    ids = await _lock(conn, deliveries, ids, *finished)
    deleted = {"delivery_attempts": 0, "deliveries": 0}
    if ids:
        deleted["delivery_attempts"] = await _delete(
            conn, delivery_attempts, delivery_attempts.c.delivery_id.in_(ids)
        )
        deleted["deliveries"] = await _delete(conn, deliveries, deliveries.c.id.in_(ids))
    return Batch(deleted, cursor)


def _has_delivery(event_id: ColumnElement[Any]) -> ColumnElement[bool]:
    return exists(select(deliveries.c.id).where(deliveries.c.event_id == event_id))


async def prune_messages(
    conn: AsyncConnection, cutoff: datetime, after: Cursor | None, limit: int
) -> Batch:
    """Final messages last changed before `cutoff` that the simulator is done with and none
    of whose events has a delivery left, with their events. Run after `prune_deliveries`:
    any delivery still there is live or recent, and keeps its message and event."""
    final = (text(f"messages.{FINAL_MESSAGE}"), messages.c.updated_at < cutoff)
    window = select(messages.c.updated_at, messages.c.id).where(*final)
    ids, cursor = await _window(conn, window, messages.c.updated_at, messages.c.id, after, limit)
    any_delivery = exists(
        select(events.c.id).where(events.c.message_id == messages.c.id, _has_delivery(events.c.id))
    )
    ids = await _lock(conn, messages, ids, *final, messages.c.sim_due_at.is_(None), ~any_delivery)
    deleted = {"events": 0, "messages": 0}
    if ids:
        deleted["events"] = await _delete(conn, events, events.c.message_id.in_(ids))
        deleted["messages"] = await _delete(conn, messages, messages.c.id.in_(ids))
    return Batch(deleted, cursor)


async def prune_unattached_events(
    conn: AsyncConnection, cutoff: datetime, after: Cursor | None, limit: int
) -> Batch:
    """Events without a message (INBOUND) created before `cutoff` with no delivery left.

    The window walks INBOUND events (the index); the rule itself, no message, is what the
    lock re-checks, so an event with a message only ever goes with that message.
    """
    window = select(events.c.created_at, events.c.id).where(
        text(f"events.{INBOUND_EVENT}"), events.c.created_at < cutoff
    )
    ids, cursor = await _window(conn, window, events.c.created_at, events.c.id, after, limit)
    ids = await _lock(conn, events, ids, events.c.message_id.is_(None), ~_has_delivery(events.c.id))
    deleted = {"events": await _delete(conn, events, events.c.id.in_(ids)) if ids else 0}
    return Batch(deleted, cursor)
