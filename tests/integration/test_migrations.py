"""Migrations: processes starting together on one fresh PostgreSQL take turns."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dlrhub.store.engine import create_engine
from dlrhub.store.migrate import pending_revisions, upgrade
from tests.support.databases import POSTGRES_URL


async def _admin(statement: str) -> None:
    engine = create_engine(POSTGRES_URL)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_concurrent_upgrades_on_a_fresh_database(postgres_url: str) -> None:
    del postgres_url  # only to require (or, in CI, insist on) a reachable server
    name = f"dlrhub_migrate_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engines = [create_engine(url) for _ in range(4)]
    try:
        assert await pending_revisions(engines[0])
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        assert not await pending_revisions(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _differences(sync_conn: object) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from dlrhub.store.schema import metadata

    context = MigrationContext.configure(sync_conn)  # type: ignore[arg-type]
    # Server defaults and type renderings differ by dialect in ways that do not matter here;
    # tables, columns, nullability, indexes and foreign keys must match exactly.
    return list(compare_metadata(context, metadata))


async def test_migrations_create_exactly_the_schema(db_url: str) -> None:
    """A column or index added to schema.py without a migration (or the reverse) fails here."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []
