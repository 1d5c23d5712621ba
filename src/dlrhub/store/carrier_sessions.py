"""SMPP session slots shared by every process (SPEC §11.2 `sessions=N`).

Each bind has N slots; a process binds a session only while it holds a slot's lease, renewed
well before it ends. A process that dies stops renewing, and another takes the slot over
once the lease has run out. The holder publishes its session's state and counters in the
row, which is what `dlrhub carriers` and `dlrhub status` print.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.smpp_binds import SessionState
from dlrhub.store.engine import lock_for_claim
from dlrhub.store.schema import carrier_sessions

DOWN = SessionState.DOWN.value  # no process holds the slot


@dataclass(frozen=True)
class SessionSlot:
    bind: str
    slot: int
    holder: str | None
    lease_expires_at: datetime | None
    state: str
    counters: dict[str, int]
    updated_at: datetime


async def claim_slot(
    conn: AsyncConnection,
    *,
    bind: str,
    slots: int,
    worker: str,
    now: datetime,
    lease_until: datetime,
    state: str,
) -> int | None:
    """Take one of the bind's `slots` that nobody holds (or whose holder's lease ran out)
    for `worker`; None when every slot is held."""
    await _ensure_slots(conn, bind, slots, now)
    query = select(carrier_sessions.c.slot).where(
        carrier_sessions.c.bind == bind,
        carrier_sessions.c.slot < slots,
        or_(
            carrier_sessions.c.lease_expires_at.is_(None),
            carrier_sessions.c.lease_expires_at < now,
        ),
    )
    free = lock_for_claim(query.order_by(carrier_sessions.c.slot).limit(1), "free")
    claimed = await conn.execute(
        update(carrier_sessions)
        .where(carrier_sessions.c.bind == bind, carrier_sessions.c.slot.in_(select(free.c.slot)))
        .values(holder=worker, lease_expires_at=lease_until, state=state, updated_at=now)
        .returning(carrier_sessions.c.slot)
    )
    row = claimed.first()
    return None if row is None else int(row.slot)


async def _ensure_slots(conn: AsyncConnection, bind: str, slots: int, now: datetime) -> None:
    rows = [
        {"bind": bind, "slot": slot, "state": DOWN, "counters": {}, "updated_at": now}
        for slot in range(slots)
    ]
    insert: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(insert(carrier_sessions).values(rows).on_conflict_do_nothing())


async def renew_slot(
    conn: AsyncConnection,
    *,
    bind: str,
    slot: int,
    worker: str,
    now: datetime,
    lease_until: datetime,
    state: str,
    counters: Mapping[str, int],
) -> bool:
    """Extend the lease and publish the session's state; False when `worker` lost the slot
    (its lease ran out and another process took it): it must drop its session at once."""
    result = await conn.execute(
        update(carrier_sessions)
        .where(
            carrier_sessions.c.bind == bind,
            carrier_sessions.c.slot == slot,
            carrier_sessions.c.holder == worker,
        )
        .values(lease_expires_at=lease_until, state=state, counters=dict(counters), updated_at=now)
    )
    return bool(result.rowcount)


async def release_slot(
    conn: AsyncConnection,
    *,
    bind: str,
    slot: int,
    worker: str,
    now: datetime,
    counters: Mapping[str, int],
) -> None:
    """Give the slot back (the session was unbound): another process may take it at once."""
    await conn.execute(
        update(carrier_sessions)
        .where(
            carrier_sessions.c.bind == bind,
            carrier_sessions.c.slot == slot,
            carrier_sessions.c.holder == worker,
        )
        .values(
            holder=None,
            lease_expires_at=None,
            state=DOWN,
            counters=dict(counters),
            updated_at=now,
        )
    )


async def list_slots(conn: AsyncConnection) -> list[SessionSlot]:
    rows = await conn.execute(
        select(carrier_sessions).order_by(carrier_sessions.c.bind, carrier_sessions.c.slot)
    )
    return [
        SessionSlot(
            bind=row.bind,
            slot=row.slot,
            holder=row.holder,
            lease_expires_at=row.lease_expires_at,
            state=row.state,
            counters={str(k): int(v) for k, v in (row.counters or {}).items()},
            updated_at=row.updated_at,
        )
        for row in rows
    ]
