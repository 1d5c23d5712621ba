"""The test databases: where PostgreSQL is, migrating and emptying one, and what a test does
when a service it needs is missing."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from dlrhub.store.engine import create_engine
from dlrhub.store.migrate import upgrade
from dlrhub.store.schema import metadata

__all__ = [
    "POSTGRES_URL",
    "REQUIRE_SERVICES",
    "admin",
    "e2e_database",
    "migrate",
    "table_names",
    "truncate",
    "unavailable",
]

POSTGRES_URL = os.environ.get(
    "DLRHUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# CI sets this so that a missing PostgreSQL or Chromium fails the run instead of skipping.
REQUIRE_SERVICES = os.environ.get("DLRHUB_TEST_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a service test must never silently not run there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (DLRHUB_TEST_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


async def migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def admin(url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE / DROP DATABASE)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def truncate(url: str) -> None:
    """Empty every table of a PostgreSQL database (the schema stays)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    finally:
        await engine.dispose()


@contextmanager
def e2e_database(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, so that `serve` has to create it itself: on SQLite a
    brand-new file, on PostgreSQL a brand-new database beside the test's (dropped after)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
        return
    name = f"dlrhub_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(db_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def table_names(url: str) -> list[str]:
    """The tables of the database at `url`, sorted (a file that does not exist has none)."""

    async def read() -> list[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
                return sorted(names)
        finally:
            await engine.dispose()

    return asyncio.run(read())
