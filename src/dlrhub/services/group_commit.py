"""Group commit: writes that arrive while a transaction is under way share the next one.

Each write on its own costs a write transaction, and on SQLite the writers of a process take
turns (store/engine.py's writer gate): at a few hundred writes a second the turns, not the
work, set the pace. Items submitted while a transaction is under way wait for the next one,
which writes all of them with the same few statements. An item that arrives alone is written
at once; nobody waits for a batch to fill.

Carrier reports (`carrier_report_batcher`) and sends (`messaging`) are both written this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.store.database import Database

log = structlog.get_logger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

# Writes a batch in the caller's transaction: one result per item, in order. An item refused
# on its own (a duplicate, a rule) gets an exception as its result; the others still commit.
ApplyBatch = Callable[[AsyncConnection, list[ItemT]], Awaitable[Sequence[ResultT | Exception]]]
# Runs after a batch committed, with the results of its committed items (e.g. a wake-up).
AfterCommit = Callable[[list[ResultT]], None]


class GroupCommit(Generic[ItemT, ResultT]):
    def __init__(
        self,
        db: Database,
        apply: ApplyBatch[ItemT, ResultT],
        *,
        after_commit: AfterCommit[ResultT] | None = None,
        max_batch: int = 500,
    ) -> None:
        self._db = db
        self._apply = apply
        self._after_commit = after_commit
        self._max_batch = max_batch
        self._pending: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT) -> ResultT:
        """Write `item` (with whatever else is waiting) and return its result once the
        transaction that holds it has committed; raises the exception it was refused with.

        The write runs in this object's own task: a caller that is cancelled while it waits
        stops waiting, but its item is still written (or refused) with its batch."""
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            try:
                await self._write(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                # One item that breaks the transaction (a constraint another process won a
                # race for, a driver error) must not fail the others: each alone, once more.
                log.info("a batch failed; writing its items one by one", size=len(batch))
                for pending in batch:
                    try:
                        await self._write([pending])
                    except Exception as exc:
                        _settle(pending[1], exc)

    async def _write(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        async with self._db.transaction() as conn:
            results = await self._apply(conn, [item for item, _ in batch])
        committed: list[ResultT] = []
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)
            if not isinstance(result, Exception):
                committed.append(result)
        if committed and self._after_commit is not None:
            self._after_commit(committed)


def _settle(future: asyncio.Future[ResultT], result: ResultT | Exception) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
