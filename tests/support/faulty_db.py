"""A real database with faults injected: lost connections and slow writers, on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dlrhub.store.database import Database


class FaultyDatabase(Database):
    """`failing_reads` / `failing_transactions`: how many of the next reads or write
    transactions break as a lost connection would; `write_delay_s`: how long every write
    transaction waits before it starts."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        failing_reads: int = 0,
        failing_transactions: int = 0,
        write_delay_s: float = 0.0,
    ) -> None:
        super().__init__(engine)
        self.failing_reads = failing_reads
        self.failing_transactions = failing_transactions
        self.write_delay_s = write_delay_s

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        if self.failing_reads:
            self.failing_reads -= 1
            raise ConnectionResetError("the connection was lost")
        async with super().reading() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        if self.failing_transactions:
            self.failing_transactions -= 1
            raise ConnectionResetError("the connection was lost")
        if self.write_delay_s:
            await asyncio.sleep(self.write_delay_s)
        async with super().transaction() as conn:
            yield conn
