"""SMPP session slots (`sessions=N` across every process, SPEC §11.2), as the connector and
the operator's commands use them: a thin service over store/carrier_sessions.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from dlrhub.domain.clock import Clock
from dlrhub.store import carrier_sessions as store
from dlrhub.store.carrier_sessions import SessionSlot
from dlrhub.store.database import Database


class SessionSlots:
    def __init__(self, db: Database, clock: Clock, *, lease: timedelta) -> None:
        self._db = db
        self._clock = clock
        self.lease = lease

    async def claim(self, bind: str, slots: int, worker: str, state: str) -> int | None:
        now = self._clock()
        async with self._db.transaction() as conn:
            return await store.claim_slot(
                conn,
                bind=bind,
                slots=slots,
                worker=worker,
                now=now,
                lease_until=now + self.lease,
                state=state,
            )

    async def renew(
        self, bind: str, slot: int, worker: str, state: str, counters: Mapping[str, int]
    ) -> bool:
        now = self._clock()
        async with self._db.transaction() as conn:
            return await store.renew_slot(
                conn,
                bind=bind,
                slot=slot,
                worker=worker,
                now=now,
                lease_until=now + self.lease,
                state=state,
                counters=counters,
            )

    async def release(self, bind: str, slot: int, worker: str, counters: Mapping[str, int]) -> None:
        async with self._db.transaction() as conn:
            await store.release_slot(
                conn, bind=bind, slot=slot, worker=worker, now=self._clock(), counters=counters
            )

    async def list(self) -> list[SessionSlot]:
        async with self._db.reading() as conn:
            return await store.list_slots(conn)
