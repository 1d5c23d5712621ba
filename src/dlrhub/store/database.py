"""One handle on the database: the engine plus the transaction idioms every service uses.

Its callers never ask which database it is: what differs (the writer lock, notifications,
driver errors) is decided in store/engine.py and offered here as the same interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dlrhub.store import engine as dialect
from dlrhub.store.signals import Signals


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._writer = dialect.writer_gate(engine)

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(dialect.create_engine(url))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error.
        A unique-key violation raises `store.errors.Duplicate`."""
        with dialect.store_errors():
            async with self._writer, self.engine.begin() as connection:
                yield connection

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; the transaction it opens is only a consistent snapshot."""
        async with self.engine.connect() as connection:
            await connection.execution_options(**{dialect.READ_ONLY: True})
            yield connection

    async def listen(self, signals: Signals, stop: asyncio.Event) -> None:
        """Until `stop`, set `signals` when another process queues work (PostgreSQL NOTIFY,
        sent by the transactions that queue it). On SQLite there is nothing to listen to and
        this returns at once: workers there find other processes' work by polling."""
        await dialect.listen(
            self.engine,
            {
                dialect.DELIVERIES_CHANNEL: signals.deliveries_queued,
                dialect.SIMULATION_CHANNEL: signals.simulation_queued,
                dialect.SUBMISSIONS_CHANNEL: signals.submissions_queued,
            },
            stop,
        )

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
