"""The carrier ingest API in-process, for the tests of SPEC §11."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dlrhub.api.app import create_app
from dlrhub.services.hub import Hub
from tests.conftest import AccountKey, make_settings
from tests.support.inprocess import serving

TOKEN = "carrier-token-123"
CARRIER = {"Authorization": f"Bearer {TOKEN}"}
WABA_NUMBER = "+393409876543"


@pytest.fixture
async def carrier_api(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    settings = make_settings(db_url, carrier_tokens=f"acme:{TOKEN}")
    hub = Hub.build(settings)
    app = create_app(settings, run_workers=False, hub=hub)
    try:
        async with serving(app) as client:
            yield client, hub
    finally:
        await hub.db.dispose()


async def sent_message(client: httpx.AsyncClient, key: AccountKey, channel: str = "sms") -> str:
    """A simulated message, left SENT (no workers run): its id."""
    request: dict[str, object] = {"destination": "+393401234567", "body": "hi", "simulation": True}
    if channel == "whatsapp":
        request["phoneNumberId"] = WABA_NUMBER
    response = await client.post(
        f"/api/message-server/{channel}/send", json=request, headers=key.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["messageId"])


@pytest.fixture
async def key(carrier_api: tuple[httpx.AsyncClient, Hub]) -> AccountKey:
    created = await carrier_api[1].accounts.create("carrier-test")
    return AccountKey(created.account_id, created.api_key)
