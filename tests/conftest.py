"""Fixtures shared by every test: both databases, the services, the in-process API."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dlrhub.api.app import create_app
from dlrhub.config import Settings
from dlrhub.services.hub import Hub
from dlrhub.store.engine import create_engine
from dlrhub.store.migrate import upgrade
from dlrhub.store.schema import metadata
from tests.support.inprocess import serving

POSTGRES_URL = os.environ.get(
    "DLRHUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# CI sets this so that a missing PostgreSQL or Chromium fails the run instead of skipping.
REQUIRE_SERVICES = os.environ.get("DLRHUB_TEST_REQUIRE_SERVICES") == "1"


# CI draws the same hypothesis examples on every run, so that a CI failure is reproducible
# and a random discovery cannot block a landing; local runs keep exploring new examples.
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("DLRHUB_TEST_HYPOTHESIS_PROFILE"):
    hypothesis.settings.load_profile(os.environ["DLRHUB_TEST_HYPOTHESIS_PROFILE"])


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a service test must never silently not run there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (DLRHUB_TEST_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test is slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A private, migrated PostgreSQL database for this test session (dropped at the end),
    so concurrent test runs on one server never see each other's rows."""
    name = f"dlrhub_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    except OSError:
        yield None  # not reachable: each test that needs it skips, or fails in CI
        return
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_database: str | None,
) -> str:
    """A migrated, empty database: each test using it runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "dlrhub.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    if postgres_database is None:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    assert postgres_database is not None
    asyncio.run(_truncate(postgres_database))
    return postgres_database


@pytest.fixture
def postgres_url(postgres_database: str | None) -> str:
    """An empty, migrated PostgreSQL database, for tests of PostgreSQL-only behaviour
    (LISTEN/NOTIFY, many workers)."""
    if postgres_database is None:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    assert postgres_database is not None
    asyncio.run(_truncate(postgres_database))
    return postgres_database


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "dev": True,
        "simulator_delay_ms": 0,
        "retry_schedule": "1,1,2",
        "poll_interval_s": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    built = Hub.build(settings)
    try:
        yield built
    finally:
        await built.db.dispose()


@dataclass(frozen=True)
class AccountKey:
    account_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}


@pytest.fixture
async def account(hub: Hub) -> AccountKey:
    created = await hub.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")
    return AccountKey(created.account_id, created.api_key)


@pytest.fixture
async def api(hub: Hub, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process, without background workers (tests drive those explicitly)."""
    app = create_app(settings, run_workers=False, hub=hub)
    async with serving(app) as client:
        yield client
