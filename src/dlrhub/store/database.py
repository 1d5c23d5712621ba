"""One handle on the database: the engine plus the transaction idioms every service uses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dlrhub.store.engine import READ_ONLY, create_engine, is_sqlite_url


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = is_sqlite_url(str(engine.url))
        # SQLite has one writer at a time. Queuing this process's writers here is fair and
        # immediate; left to SQLite, they would sleep and retry with backoff (busy_timeout,
        # which remains for other processes such as the CLI).
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(create_engine(url))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        if self._sqlite_writer is None:
            async with self.engine.begin() as connection:
                yield connection
            return
        async with self._sqlite_writer, self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; the transaction it opens is only a consistent snapshot."""
        async with self.engine.connect() as connection:
            await connection.execution_options(**{READ_ONLY: True})
            yield connection

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
