"""Queries on messages, including the simulator's durable schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.status import MessageStatus
from dlrhub.store.engine import SIMULATION_CHANNEL, lock_rows, lock_skipping_locked, notify
from dlrhub.store.records import MessageRecord
from dlrhub.store.schema import messages


@dataclass(frozen=True)
class NewMessage:
    """A message to store, with the simulator's first step for a simulated one (`sim_next`:
    the index of the step in domain.simulation.simulation_steps), its simulation options,
    its own receipt timeout, and the deadline of a simulated one (set at the send)."""

    record: MessageRecord
    sim_next: str | None
    sim_due_at: datetime | None
    sim_options: dict[str, Any] | None = None
    validity_s: int | None = None
    receipt_due_at: datetime | None = None


async def insert_messages(conn: AsyncConnection, new: Sequence[NewMessage]) -> None:
    """Insert many messages in one statement; wakes the simulators if any is simulated."""
    if not new:
        return
    # vars(), not asdict(): a record's fields are flat values; asdict deep-copies each one.
    rows = [
        vars(message.record)
        | {
            "channel": message.record.channel.value,
            "status": message.record.status.value,
            "sim_next": message.sim_next,
            "sim_due_at": message.sim_due_at,
            "sim_options": message.sim_options,
            "validity_s": message.validity_s,
            "receipt_due_at": message.receipt_due_at,
        }
        for message in new
    ]
    await conn.execute(messages.insert(), rows)
    if any(message.sim_due_at is not None for message in new):
        await notify(conn, SIMULATION_CHANNEL)


async def taken_customer_ids(
    conn: AsyncConnection, wanted: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of these (account id, customerMessageId) pairs a stored message already has."""
    if not wanted:
        return set()
    rows = await conn.execute(
        select(messages.c.account_id, messages.c.customer_message_id).where(
            messages.c.customer_message_id.in_(sorted({cid for _, cid in wanted}))
        )
    )
    pairs = set(wanted)
    return {(row.account_id, row.customer_message_id) for row in rows} & pairs


async def by_customer_id(
    conn: AsyncConnection, account_id: str, customer_message_id: str
) -> MessageRecord | None:
    row = (
        await conn.execute(
            select(messages).where(
                messages.c.account_id == account_id,
                messages.c.customer_message_id == customer_message_id,
            )
        )
    ).first()
    return None if row is None else MessageRecord.from_row(row)


async def by_customer_ids(
    conn: AsyncConnection, account_id: str, customer_message_ids: Sequence[str]
) -> dict[str, MessageRecord]:
    rows = await conn.execute(
        select(messages).where(
            messages.c.account_id == account_id,
            messages.c.customer_message_id.in_(list(customer_message_ids)),
        )
    )
    return {row.customer_message_id: MessageRecord.from_row(row) for row in rows}


async def by_ids(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, MessageRecord]:
    rows = await conn.execute(select(messages).where(messages.c.id.in_(list(message_ids))))
    return {row.id: MessageRecord.from_row(row) for row in rows}


async def lock_by_ids(
    conn: AsyncConnection, message_ids: Sequence[str]
) -> dict[str, MessageRecord]:
    """The messages, locked until the transaction ends (in id order: no deadlocks)."""
    query = select(messages).where(messages.c.id.in_(list(message_ids))).order_by(messages.c.id)
    rows = await conn.execute(lock_rows(query))
    return {row.id: MessageRecord.from_row(row) for row in rows}


async def save_statuses(
    conn: AsyncConnection, moves: Sequence[tuple[MessageStatus, MessageRecord]]
) -> None:
    """Write (status the row had, the record after its moves) for messages locked by
    `lock_by_ids`, in one statement. A moved message has had a final report (every move
    leaves SENT): its receipt deadline goes, which keeps the deadline index small."""
    if not moves:
        return
    await conn.execute(
        update(messages)
        .where(messages.c.id == bindparam("m_id"), messages.c.status == bindparam("m_was"))
        .values(
            status=bindparam("m_status"),
            error=bindparam("m_error"),
            delivered_at=bindparam("m_delivered_at"),
            read_at=bindparam("m_read_at"),
            updated_at=bindparam("m_updated_at"),
            receipt_due_at=None,
        ),
        [
            {
                "m_id": after.id,
                "m_was": was.value,
                "m_status": after.status.value,
                "m_error": after.error,
                "m_delivered_at": after.delivered_at,
                "m_read_at": after.read_at,
                "m_updated_at": after.updated_at,
            }
            for was, after in moves
        ],
    )


@dataclass(frozen=True)
class DueStep:
    """A simulated message whose step `sim_next` is due, with its simulation options."""

    message: MessageRecord
    sim_next: str
    sim_options: dict[str, Any] | None


async def lock_due_simulations(conn: AsyncConnection, now: datetime, limit: int) -> list[DueStep]:
    """Up to `limit` messages whose simulator step is due, locked until the transaction ends
    (PostgreSQL: passing over rows another simulator holds), each with the step to take.

    No lease is written: the caller applies the steps and schedules the next ones in this
    same transaction, so a crash rolls all of it back and the steps are simply due again.
    """
    query = (
        select(messages)
        .where(text("sim_due_at IS NOT NULL"), messages.c.sim_due_at <= now)
        .order_by(messages.c.sim_due_at)
        .limit(limit)
    )
    rows = await conn.execute(lock_skipping_locked(query))
    return [DueStep(MessageRecord.from_row(row), row.sim_next, row.sim_options) for row in rows]


async def schedule_simulations(
    conn: AsyncConnection, steps: Sequence[tuple[str, str | None, datetime | None]]
) -> None:
    """Set each (message id, step to take next, when) in one statement; (id, None, None)
    ends a message's simulation."""
    if not steps:
        return
    await conn.execute(
        update(messages)
        .where(messages.c.id == bindparam("m_id"))
        .values(sim_next=bindparam("m_next"), sim_due_at=bindparam("m_due_at")),
        [{"m_id": id_, "m_next": next_, "m_due_at": due_at} for id_, next_, due_at in steps],
    )


async def earliest_simulation(conn: AsyncConnection) -> datetime | None:
    value: datetime | None = (
        await conn.execute(select(func.min(messages.c.sim_due_at)))
    ).scalar_one_or_none()
    return value


async def set_receipt_deadlines(
    conn: AsyncConnection, message_ids: Sequence[str], handed_over_at: datetime, default_s: int
) -> None:
    """The carrier accepted these messages: each times out its own `validity_s` (or
    `default_s`) from now, unless a report already made it final. Two statements a batch."""
    if not message_ids:
        return
    rows = await conn.execute(
        select(messages.c.id, messages.c.validity_s).where(
            messages.c.id.in_(list(message_ids)),
            messages.c.status == MessageStatus.SENT.value,
        )
    )
    due = [
        {
            "m_id": row.id,
            "m_due": handed_over_at
            + timedelta(seconds=default_s if row.validity_s is None else row.validity_s),
        }
        for row in rows
    ]
    if due:
        await conn.execute(
            update(messages)
            .where(messages.c.id == bindparam("m_id"))
            .values(receipt_due_at=bindparam("m_due")),
            due,
        )


@dataclass(frozen=True)
class DueReceipt:
    """A message whose receipt deadline passed, and the timeout that applied to it."""

    message: MessageRecord
    validity_s: int | None


async def lock_due_receipts(conn: AsyncConnection, now: datetime, limit: int) -> list[DueReceipt]:
    """Up to `limit` messages whose receipt deadline passed, locked until the transaction
    ends (PostgreSQL: passing over rows another sweeper or a report holds: they are taken
    by the next sweep, or made final by that report)."""
    query = (
        select(messages)
        .where(text("receipt_due_at IS NOT NULL"), messages.c.receipt_due_at <= now)
        .order_by(messages.c.receipt_due_at)
        .limit(limit)
    )
    rows = await conn.execute(lock_skipping_locked(query))
    return [DueReceipt(MessageRecord.from_row(row), row.validity_s) for row in rows]


async def clear_receipt_deadlines(conn: AsyncConnection, message_ids: Sequence[str]) -> None:
    if message_ids:
        await conn.execute(
            update(messages).where(messages.c.id.in_(list(message_ids))).values(receipt_due_at=None)
        )


async def earliest_receipt_due(conn: AsyncConnection) -> datetime | None:
    value: datetime | None = (
        await conn.execute(select(func.min(messages.c.receipt_due_at)))
    ).scalar_one_or_none()
    return value
