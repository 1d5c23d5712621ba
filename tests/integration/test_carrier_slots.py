"""SMPP session slots shared by every process (SPEC §11.2 `sessions=N`, issue 11): at most N
holders per bind, a lease the holder renews, a dead holder's slot taken over once its lease
ran out, and the state each holder publishes. Both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest

from dlrhub.store import carrier_sessions as slots
from dlrhub.store.database import Database

BIND = "smpp://a@127.0.0.1:2775"
OTHER_BIND = "smpp://b@127.0.0.1:2776"
LEASE = timedelta(seconds=15)
T0 = datetime.now(UTC).replace(microsecond=0)  # whole seconds: both databases store them exactly


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(db_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _claim(
    db: Database, worker: str, *, at: datetime = T0, sessions: int = 2, bind: str = BIND
) -> int | None:
    async with db.transaction() as conn:
        return await slots.claim_slot(
            conn,
            bind=bind,
            slots=sessions,
            worker=worker,
            now=at,
            lease_until=at + LEASE,
            state="binding",
        )


async def _renew(
    db: Database,
    worker: str,
    slot: int,
    *,
    at: datetime = T0,
    state: str = "bound",
    counters: Mapping[str, int] | None = None,
) -> bool:
    async with db.transaction() as conn:
        return await slots.renew_slot(
            conn,
            bind=BIND,
            slot=slot,
            worker=worker,
            now=at,
            lease_until=at + LEASE,
            state=state,
            counters=counters or {},
        )


async def _release(db: Database, worker: str, slot: int, *, at: datetime = T0) -> None:
    async with db.transaction() as conn:
        await slots.release_slot(
            conn, bind=BIND, slot=slot, worker=worker, now=at, counters={"submitted": 7}
        )


async def _listed(db: Database) -> dict[tuple[str, int], slots.SessionSlot]:
    async with db.reading() as conn:
        return {(s.bind, s.slot): s for s in await slots.list_slots(conn)}


async def test_n_sessions_give_n_slots_and_no_more(db: Database) -> None:
    assert await _claim(db, "w1") == 0
    assert await _claim(db, "w2") == 1
    assert await _claim(db, "w3") is None
    assert await _claim(db, "w1") is None  # a holder gets no second slot from a full bind
    listed = await _listed(db)
    assert {key: s.holder for key, s in listed.items()} == {(BIND, 0): "w1", (BIND, 1): "w2"}
    assert {s.state for s in listed.values()} == {"binding"}
    assert {s.lease_expires_at for s in listed.values()} == {T0 + LEASE}
    # Another bind has slots of its own.
    assert await _claim(db, "w3", bind=OTHER_BIND, sessions=1) == 0


async def test_only_the_holder_renews(db: Database) -> None:
    assert await _claim(db, "w1") == 0
    later = T0 + timedelta(seconds=5)
    assert await _renew(db, "w1", 0, at=later, counters={"submitted": 3, "receipts": 2})
    assert not await _renew(db, "w2", 0, at=later, state="stolen")
    assert not await _renew(db, "w1", 1, at=later)  # a slot it never held
    slot = (await _listed(db))[(BIND, 0)]
    assert (slot.holder, slot.state) == ("w1", "bound")
    assert slot.counters == {"submitted": 3, "receipts": 2}
    assert (slot.lease_expires_at, slot.updated_at) == (later + LEASE, later)


async def test_a_lapsed_lease_is_taken_over_and_its_old_holder_loses_it(db: Database) -> None:
    assert await _claim(db, "w1") == 0
    assert await _claim(db, "w2") == 1
    # w2 renews in time; w1 has died and does not.
    assert await _renew(db, "w2", 1, at=T0 + LEASE - timedelta(seconds=5))
    assert await _claim(db, "w3", at=T0 + LEASE - timedelta(seconds=1)) is None
    after = T0 + LEASE + timedelta(seconds=1)
    assert await _claim(db, "w3", at=after) == 0
    # w1 comes back (it was only stalled): it must drop its session.
    assert not await _renew(db, "w1", 0, at=after)
    listed = await _listed(db)
    assert (listed[(BIND, 0)].holder, listed[(BIND, 1)].holder) == ("w3", "w2")
    assert listed[(BIND, 0)].lease_expires_at == after + LEASE


async def test_a_released_slot_is_free_at_once(db: Database) -> None:
    assert await _claim(db, "w1") == 0
    assert await _claim(db, "w2") == 1
    await _release(db, "w2", 0)  # not its slot: nothing happens
    assert (await _listed(db))[(BIND, 0)].holder == "w1"
    await _release(db, "w1", 0)
    slot = (await _listed(db))[(BIND, 0)]
    assert (slot.holder, slot.lease_expires_at, slot.state) == (None, None, slots.DOWN)
    assert slot.counters == {"submitted": 7}
    assert not await _renew(db, "w1", 0)
    assert await _claim(db, "w3") == 0  # long before w1's lease would have ended


async def test_fewer_sessions_than_slots_stored_leaves_the_others_unused(db: Database) -> None:
    assert await _claim(db, "w1", sessions=2) == 0
    await _release(db, "w1", 0)
    # The bind now asks for one session: slot 1 exists but is not one of its slots.
    assert await _claim(db, "w2", sessions=1) == 0
    assert await _claim(db, "w3", sessions=1) is None


@pytest.mark.postgres
async def test_concurrent_claims_from_many_processes_fill_each_slot_once(
    postgres_url: str,
) -> None:
    processes = [Database.from_url(postgres_url) for _ in range(6)]
    try:
        got = await asyncio.gather(
            *(_claim(db, f"w{n}", sessions=2) for n, db in enumerate(processes))
        )
        assert sorted(slot for slot in got if slot is not None) == [0, 1]
        holders = {key: s.holder for key, s in (await _listed(processes[0])).items()}
        assert holders == {(BIND, 0): f"w{got.index(0)}", (BIND, 1): f"w{got.index(1)}"}
    finally:
        for db in processes:
            await db.dispose()
