"""The alerts URL (docs/alerts.md): PUT, GET and DELETE /account/alerts with the webhooks' URL
rules and problem bodies; both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey
from tests.support.inprocess import serving
from tests.support.stack import make_settings

ALERTS = API + "/account/alerts"


@pytest.fixture
async def strict(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, AccountKey]]:
    """The API outside dev mode: HTTPS and public addresses only."""
    settings = make_settings(db_url, dev=False)
    hub = Hub.build(settings)
    try:
        created = await hub.accounts.create("alerts-api")
        app = create_app(settings, run_workers=False, hub=hub)
        async with serving(app) as client:
            yield client, AccountKey(created.account_id, created.api_key)
    finally:
        await hub.db.dispose()


async def test_put_creates_then_replaces_get_shows_delete_removes(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    headers = account.headers
    assert (await api.get(ALERTS, headers=headers)).status_code == 404
    first = await api.put(ALERTS, json={"url": "https://ops.example/a"}, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["url"] == "https://ops.example/a"
    assert first.json()["disabledAt"] is None
    second = await api.put(ALERTS, json={"url": "https://ops.example/b"}, headers=headers)
    assert second.status_code == 200, second.text
    shown = await api.get(ALERTS, headers=headers)
    assert shown.status_code == 200
    assert shown.json()["url"] == "https://ops.example/b"
    assert shown.json()["createdAt"] == first.json()["createdAt"]
    assert (await api.delete(ALERTS, headers=headers)).status_code == 204
    gone = await api.get(ALERTS, headers=headers)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert gone.json()["detail"] == "no alerts URL is configured for this account"
    assert (await api.delete(ALERTS, headers=headers)).status_code == 404
    again = await api.put(ALERTS, json={"url": "https://ops.example/c"}, headers=headers)
    assert again.status_code == 201  # one alerts webhook again, after the delete


async def test_the_alerts_url_is_not_a_webhook_in_the_lists(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    await api.put(ALERTS, json={"url": "https://ops.example/a"}, headers=account.headers)
    listed = await api.get(API + "/webhooks", headers=account.headers)
    assert listed.json()["items"] == []
    delivery_status = await api.get(API + "/webhooks/delivery-status", headers=account.headers)
    assert delivery_status.status_code == 404


@pytest.mark.parametrize(
    "url",
    ["http://ops.example/a", "https://127.0.0.1/a", "https://10.1.2.3/a", "https://[::1]/a"],
)
async def test_outside_dev_http_and_private_addresses_are_refused(
    strict: tuple[httpx.AsyncClient, AccountKey], url: str
) -> None:
    client, key = strict
    response = await client.put(ALERTS, json={"url": url}, headers=key.headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400
    assert [e["field"] for e in problem["errors"]] == ["url"]
    assert (await client.get(ALERTS, headers=key.headers)).status_code == 404


async def test_dev_mode_allows_a_local_receiver(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    response = await api.put(ALERTS, json={"url": "http://127.0.0.1:9/a"}, headers=account.headers)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("body", [{}, {"url": 5}, {"url": None}, {"callbackUrl": "https://a.b/"}])
async def test_a_missing_or_mistyped_url_is_400(
    api: httpx.AsyncClient, account: AccountKey, body: dict[str, object]
) -> None:
    response = await api.put(ALERTS, json=body, headers=account.headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_without_a_key_401_and_accounts_do_not_see_each_other(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    assert (await api.get(ALERTS)).status_code == 401
    assert (await api.put(ALERTS, json={"url": "https://a.example/"})).status_code == 401
    await api.put(ALERTS, json={"url": "https://ops.example/a"}, headers=account.headers)
    other = await hub.accounts.create("other")
    headers = {"X-Api-Key": other.api_key}
    assert (await api.get(ALERTS, headers=headers)).status_code == 404
    assert (await api.delete(ALERTS, headers=headers)).status_code == 404
    assert (await api.get(ALERTS, headers=account.headers)).status_code == 200
