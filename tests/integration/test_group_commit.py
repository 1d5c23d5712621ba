"""GroupCommit (issue 10) on both databases: items submitted while a transaction is under way
share the next one, each caller gets its own result or refusal, an item refused alone does not
refuse the others, and a caller that gives up waiting does not stop its item being written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.services.group_commit import GroupCommit
from dlrhub.store.database import Database
from tests.support.faulty_db import FaultyDatabase


class Refused(Exception):
    pass


class Ledger:
    """An apply function that records each batch it wrote; odd numbers are refused."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.committed: list[list[int]] = []

    async def apply(self, _conn: AsyncConnection, items: list[int]) -> Sequence[int | Exception]:
        self.batches.append(list(items))
        return [Refused(item) if item % 2 else item * 10 for item in items]

    def after_commit(self, results: list[int]) -> None:
        self.committed.append(results)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(db_url)
    try:
        yield database
    finally:
        await database.dispose()


async def test_concurrent_items_share_a_transaction_and_get_their_own_results(
    db: Database,
) -> None:
    ledger = Ledger()
    commits = GroupCommit[int, int](db, ledger.apply, after_commit=ledger.after_commit)
    results = await asyncio.gather(*(commits.submit(i) for i in range(6)), return_exceptions=True)
    assert results[0::2] == [0, 20, 40]
    assert [type(r) for r in results[1::2]] == [Refused] * 3
    assert ledger.batches == [[0, 1, 2, 3, 4, 5]]  # one transaction for all six
    assert ledger.committed == [[0, 20, 40]]  # after the commit, only what was written


async def test_batches_are_capped(db: Database) -> None:
    ledger = Ledger()
    commits = GroupCommit[int, int](db, ledger.apply, max_batch=4)
    await asyncio.gather(*(commits.submit(i * 2) for i in range(10)))
    assert [len(batch) for batch in ledger.batches] == [4, 4, 2]


async def test_a_caller_that_stops_waiting_still_has_its_item_written(db_url: str) -> None:
    slow = FaultyDatabase(Database.from_url(db_url).engine, write_delay_s=0.2)
    try:
        ledger = Ledger()
        commits = GroupCommit[int, int](slow, ledger.apply, after_commit=ledger.after_commit)
        first = asyncio.ensure_future(commits.submit(0))
        impatient = asyncio.ensure_future(commits.submit(2))
        await asyncio.sleep(0)  # both queued: the writer task has not started its transaction
        impatient.cancel()
        assert await first == 0
        with pytest.raises(asyncio.CancelledError):
            await impatient
        assert ledger.committed == [[0, 20]]  # written with its batch, as a 201 would be
        assert await commits.submit(4) == 40  # and the batcher goes on
    finally:
        await slow.dispose()
