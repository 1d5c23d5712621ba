"""The store's boundary (issue 9 item 6): driver errors come out as store exceptions, and the
wake-up interface is the same on both databases (on SQLite it has nothing to listen to)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from dlrhub.store import accounts as store
from dlrhub.store.database import Database
from dlrhub.store.engine import DELIVERIES_CHANNEL, SIMULATION_CHANNEL, notify
from dlrhub.store.errors import Duplicate
from dlrhub.store.schema import accounts
from dlrhub.store.signals import Signals
from tests.support.waiting import wait_until

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(db_url)
    try:
        yield database
    finally:
        await database.dispose()


async def test_a_second_account_of_one_name_is_a_duplicate(db: Database) -> None:
    async with db.transaction() as conn:
        await store.insert_account(conn, "a1", "acme", NOW)
    with pytest.raises(Duplicate):
        async with db.transaction() as conn:
            await store.insert_account(conn, "a2", "acme", NOW)
    with pytest.raises(Duplicate):  # the primary key too
        async with db.transaction() as conn:
            await store.insert_account(conn, "a1", "other", NOW)
    async with db.reading() as conn:
        assert await store.find_account(conn, "a2") is None  # rolled back


async def test_other_integrity_errors_are_not_duplicates(db: Database) -> None:
    with pytest.raises(IntegrityError) as raised:
        async with db.transaction() as conn:
            await conn.execute(insert(accounts).values(id="a1", name=None, created_at=NOW))
    assert not isinstance(raised.value, Duplicate)


async def test_listening_is_one_interface_on_both_databases(db: Database, db_url: str) -> None:
    signals = Signals()
    stop = asyncio.Event()
    listening = asyncio.create_task(db.listen(signals, stop))
    try:
        if db_url.startswith("sqlite"):
            # Nothing to listen to: returns at once instead of holding a task until `stop`.
            await asyncio.wait_for(listening, timeout=5)
            assert not signals.deliveries.is_set()
            return
        # Connected: every (re)connect wakes both sleepers once.
        await wait_until(lambda: signals.deliveries.is_set() and signals.simulation.is_set())
        signals.deliveries.clear()
        signals.simulation.clear()
        async with db.transaction() as conn:
            await notify(conn, DELIVERIES_CHANNEL)
        await wait_until(signals.deliveries.is_set, what="woken by NOTIFY")
        assert not signals.simulation.is_set()
        async with db.transaction() as conn:
            await notify(conn, SIMULATION_CHANNEL)
        await wait_until(signals.simulation.is_set, what="woken by NOTIFY")
    finally:
        stop.set()
        await asyncio.wait_for(listening, timeout=5)
