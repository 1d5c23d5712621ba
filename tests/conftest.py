"""Fixtures shared by every test: both databases, the services, the in-process API."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import hypothesis
import pytest
from sqlalchemy.engine import make_url

from dlrhub.config import Settings
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.databases import POSTGRES_URL, admin, migrate, truncate, unavailable
from tests.support.inprocess import serving
from tests.support.stack import make_settings

# CI draws the same hypothesis examples on every run, so that a CI failure is reproducible
# and a random discovery cannot block a landing; local runs keep exploring new examples.
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("DLRHUB_TEST_HYPOTHESIS_PROFILE"):
    hypothesis.settings.load_profile(os.environ["DLRHUB_TEST_HYPOTHESIS_PROFILE"])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test is slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A private, migrated PostgreSQL database for this test session (dropped at the end),
    so concurrent test runs on one server never see each other's rows."""
    name = f"dlrhub_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    except OSError:
        yield None  # not reachable: each test that needs it skips, or fails in CI
        return
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(migrate(url))
    yield url
    asyncio.run(admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
    asyncio.run(truncate(postgres_database))
    return postgres_database


@pytest.fixture
def postgres_url(postgres_database: str | None) -> str:
    """An empty, migrated PostgreSQL database, for tests of PostgreSQL-only behaviour
    (LISTEN/NOTIFY, many workers)."""
    if postgres_database is None:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    assert postgres_database is not None
    asyncio.run(truncate(postgres_database))
    return postgres_database


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
