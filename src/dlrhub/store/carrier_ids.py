"""What carriers accepted, per part, and receipts that arrived before the acceptance.

Reports name messages by the carrier's id, so the id of every accepted part is stored with
the message: a report is matched in any process, whichever session or request brings it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.status import MessageStatus
from dlrhub.store.schema import carrier_parts, early_receipts

# The longest carrier id stored (the columns' length): longer ones name nothing of ours.
MAX_KEY_LENGTH = 100


@dataclass(frozen=True)
class Part:
    """One accepted part of a message and its final state so far (None: not final yet)."""

    message_id: str
    part_index: int
    carrier_key: str
    carrier_message_id: str
    status: MessageStatus | None


@dataclass(frozen=True)
class EarlyReceipt:
    """A receipt kept until a part with one of its ids is recorded."""

    receipt_id: str
    carrier_keys: tuple[str, ...]
    status: MessageStatus | None
    error: str | None
    received_at: datetime


def _part(row: Any) -> Part:
    return Part(
        message_id=row.message_id,
        part_index=row.part_index,
        carrier_key=row.carrier_key,
        carrier_message_id=row.carrier_message_id,
        status=_status(row.status),
    )


async def insert_parts(conn: AsyncConnection, parts: Sequence[Part], now: datetime) -> None:
    """Store accepted parts; a part already stored keeps its first id. A worker whose lease
    lapsed may record an acceptance after the worker that took the message over (both copies
    submitted): that record raised Duplicate, and failed the group commit it shared."""
    if not parts:
        return
    insert: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(carrier_parts).on_conflict_do_nothing(index_elements=["message_id", "part_index"]),
        [
            {
                "message_id": part.message_id,
                "part_index": part.part_index,
                "carrier_key": part.carrier_key,
                "carrier_message_id": part.carrier_message_id,
                "status": None if part.status is None else part.status.value,
                "created_at": now,
            }
            for part in parts
        ],
    )


async def parts_by_keys(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, list[Part]]:
    """The parts stored under each of these carrier keys (ids can repeat across carriers)."""
    if not keys:
        return {}
    rows = await conn.execute(
        select(carrier_parts)
        .where(carrier_parts.c.carrier_key.in_(sorted(set(keys))))
        .order_by(carrier_parts.c.created_at.desc())
    )
    found: dict[str, list[Part]] = defaultdict(list)
    for row in rows:
        found[row.carrier_key].append(_part(row))
    return found


async def parts_of(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, list[Part]]:
    """Every stored part of these messages, in part order."""
    if not message_ids:
        return {}
    rows = await conn.execute(
        select(carrier_parts)
        .where(carrier_parts.c.message_id.in_(sorted(set(message_ids))))
        .order_by(carrier_parts.c.message_id, carrier_parts.c.part_index)
    )
    found: dict[str, list[Part]] = defaultdict(list)
    for row in rows:
        found[row.message_id].append(_part(row))
    return found


async def save_part_statuses(
    conn: AsyncConnection, updates: Sequence[tuple[str, int, MessageStatus]]
) -> None:
    """Set (message id, part index, final status) in one statement."""
    if not updates:
        return
    await conn.execute(
        update(carrier_parts)
        .where(
            and_(
                carrier_parts.c.message_id == bindparam("p_id"),
                carrier_parts.c.part_index == bindparam("p_index"),
            )
        )
        .values(status=bindparam("p_status")),
        [{"p_id": m, "p_index": i, "p_status": s.value} for m, i, s in updates],
    )


async def keep_early(conn: AsyncConnection, receipts: Sequence[EarlyReceipt]) -> None:
    rows = [
        {
            "receipt_id": receipt.receipt_id,
            "carrier_key": key,
            "status": None if receipt.status is None else receipt.status.value,
            "error": receipt.error,
            "received_at": receipt.received_at,
        }
        for receipt in receipts
        for key in dict.fromkeys(receipt.carrier_keys)
    ]
    if rows:
        await conn.execute(early_receipts.insert(), rows)


async def early_for_keys(conn: AsyncConnection, keys: Sequence[str]) -> list[EarlyReceipt]:
    """Kept receipts that may stand for one of `keys`, oldest first (each with every key it
    was kept under)."""
    if not keys:
        return []
    wanted = select(early_receipts.c.receipt_id).where(
        early_receipts.c.carrier_key.in_(sorted(set(keys)))
    )
    return await _early(conn, wanted)


async def early_with_parts(conn: AsyncConnection, limit: int) -> list[EarlyReceipt]:
    """Kept receipts that some part now has an id of: acceptances recorded while the receipt
    was being kept, each transaction unable to see the other's rows."""
    wanted = (
        select(early_receipts.c.receipt_id)
        .join(carrier_parts, carrier_parts.c.carrier_key == early_receipts.c.carrier_key)
        .limit(limit)
    )
    return await _early(conn, wanted)


async def _early(conn: AsyncConnection, wanted: Select[Any]) -> list[EarlyReceipt]:
    rows = await conn.execute(
        select(early_receipts)
        .where(early_receipts.c.receipt_id.in_(wanted))
        .order_by(early_receipts.c.received_at, early_receipts.c.receipt_id)
    )
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.receipt_id].append(row)
    return [
        EarlyReceipt(
            receipt_id=receipt_id,
            carrier_keys=tuple(row.carrier_key for row in group),
            status=_status(group[0].status),
            error=group[0].error,
            received_at=group[0].received_at,
        )
        for receipt_id, group in grouped.items()
    ]


def _status(value: str | None) -> MessageStatus | None:
    return None if value is None else MessageStatus(value)


async def drop_early(conn: AsyncConnection, receipt_ids: Sequence[str]) -> None:
    if receipt_ids:
        await conn.execute(
            delete(early_receipts).where(early_receipts.c.receipt_id.in_(sorted(receipt_ids)))
        )


async def prune_early(conn: AsyncConnection, received_before: datetime) -> int:
    """Forget kept receipts no acceptance claimed in time: they were for no message of ours."""
    result = await conn.execute(
        delete(early_receipts).where(early_receipts.c.received_at < received_before)
    )
    return int(result.rowcount or 0)
