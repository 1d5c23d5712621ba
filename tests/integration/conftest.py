"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.carrier import TOKEN
from tests.support.inprocess import serving
from tests.support.stack import make_settings


@pytest.fixture
async def carrier_api(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    """The API in-process with one carrier ("acme") allowed to post reports (SPEC §11)."""
    settings = make_settings(db_url, carrier_tokens=f"acme:{TOKEN}")
    hub = Hub.build(settings)
    app = create_app(settings, run_workers=False, hub=hub)
    try:
        async with serving(app) as client:
            yield client, hub
    finally:
        await hub.db.dispose()


@pytest.fixture
async def key(carrier_api: tuple[httpx.AsyncClient, Hub]) -> AccountKey:
    """An account on `carrier_api`'s hub."""
    created = await carrier_api[1].accounts.create("carrier-test")
    return AccountKey(created.account_id, created.api_key)
