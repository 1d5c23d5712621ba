"""The test databases: where PostgreSQL is, migrating and emptying one, and what a test does
when a service it needs is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from dlrhub.store.engine import create_engine
from dlrhub.store.migrate import upgrade
from dlrhub.store.schema import metadata

__all__ = [
    "POSTGRES_URL",
    "REQUIRE_SERVICES",
    "admin",
    "e2e_database",
    "migrate",
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


def e2e_database(db_url: str, tmp_path: Path) -> str:
    """PostgreSQL: the test's (migrated, empty) database. SQLite: a brand-new file, so that
    `serve` has to create the schema itself."""
    if db_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    return db_url
