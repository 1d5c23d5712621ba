"""Per-account limits (SPEC §14, issue 8 findings 2 and 3), on both databases: richer webhooks
per account (422 over the cap), "test webhook" calls per minute and at once (429 with
Retry-After), problem bodies naming the limit and its value, and the dashboard's forms."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from dlrhub.config import Settings
from dlrhub.domain.errors import LimitReached
from dlrhub.services.richer_webhooks import WebhookSpec
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey
from tests.support.dashboard import sign_in, webhook_form
from tests.support.receiver import Receiver, Reply
from tests.support.richer_webhooks import create_webhook, webhook_body
from tests.support.stack import make_settings
from tests.support.tls import TestTLS, make_tls

TIMEOUT_S = 2.0  # the attempt timeout here: how long a test against a hanging server lasts
DLR_NAMES = ["transactionId", "messageId", "errorCode", "mobileNumber", "receivedTime"]


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def settings(db_url: str, tls: TestTLS) -> Settings:
    # The limits at their defaults (20 webhooks, 10 tests a minute, 2 at once).
    return make_settings(db_url, ca_bundle=tls.ca_pem_path, delivery_timeout_s=TIMEOUT_S)


def sms_dlr(url: str) -> dict[str, Any]:
    return webhook_body("SMS", "DLR", "JSON", url)


def spec(url: str) -> WebhookSpec:
    return WebhookSpec(
        product="SMS",
        report_type="DLR",
        method="JSON",
        url=url,
        parameters={n: n for n in [*DLR_NAMES, "deliveredTime"]},
    )


def assert_problem(response: httpx.Response, status: int, limit: str, value: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["limit"] == limit
    assert body["value"] == value
    assert f"{limit} = {value}" in body["detail"]


async def test_the_21st_webhook_is_422_naming_the_limit(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    for i in range(20):
        await create_webhook(api, account, sms_dlr(f"https://example.com/hook/{i}"))
    over = await api.post(
        f"{API}/webhooks", json=sms_dlr("https://example.com/one-more"), headers=account.headers
    )
    assert_problem(over, 422, "max_webhooks_per_account", 20)
    assert over.json()["title"] == "Limit reached"
    listed = await api.get(f"{API}/webhooks", headers=account.headers)
    assert len(listed.json()["items"]) == 20

    # Deleted webhooks do not count: deleting one makes room for one.
    first = listed.json()["items"][0]["id"]
    deleted = await api.delete(f"{API}/webhooks/{first}", headers=account.headers)
    assert deleted.status_code == 204
    await create_webhook(api, account, sms_dlr("https://example.com/replacement"))
    again = await api.post(
        f"{API}/webhooks", json=sms_dlr("https://example.com/two-more"), headers=account.headers
    )
    assert again.status_code == 422

    # The cap is per account: another account still creates its own.
    other = await hub.accounts.create("other-tenant")
    created = await api.post(
        f"{API}/webhooks",
        json=sms_dlr("https://example.com/theirs"),
        headers={"X-Api-Key": other.api_key},
    )
    assert created.status_code == 201, created.text


async def test_concurrent_creates_cannot_pass_the_cap_together(db_url: str) -> None:
    hub = Hub.build(make_settings(db_url, max_webhooks_per_account=3))
    try:
        account = await hub.accounts.create("racer")
        outcomes = await asyncio.gather(
            *(
                hub.richer_webhooks.create(account.account_id, spec(f"https://example.com/{i}"))
                for i in range(12)
            ),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, LimitReached)]
        others = [o for o in outcomes if isinstance(o, BaseException) and o not in refused]
        assert others == []
        assert len(refused) == 9
        assert len(await hub.richer_webhooks.list(account.account_id)) == 3
    finally:
        await hub.db.dispose()


async def test_the_11th_test_in_a_minute_is_429_with_retry_after(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, tls: TestTLS
) -> None:
    async with Receiver(tls) as receiver:
        webhook = await create_webhook(api, account, sms_dlr(receiver.url_for("/dlr")))
        url = f"{API}/webhooks/{webhook['id']}/test"
        for _ in range(10):
            fine = await api.post(url, headers=account.headers)
            assert fine.status_code == 200, fine.text
            assert fine.json()["error"] is None
        over = await api.post(url, headers=account.headers)
        assert_problem(over, 429, "test_rate_per_minute", 10)
        assert over.json()["title"] == "Too many requests"
        retry_after = int(over.headers["Retry-After"])
        assert 55 <= retry_after <= 60  # the first of the ten leaves the window in ~60 s
        assert over.json()["retryAfter"] == retry_after
        assert len(receiver.requests) == 10  # the refused test sent nothing

        # Per account: another account's tests are not affected.
        other = await hub.accounts.create("other-tenant")
        others = AccountKey(other.account_id, other.api_key)
        theirs = await create_webhook(api, others, sms_dlr(receiver.url_for("/theirs")))
        response = await api.post(f"{API}/webhooks/{theirs['id']}/test", headers=others.headers)
        assert response.status_code == 200, response.text


async def test_a_third_concurrent_test_is_429_while_two_hang(
    api: httpx.AsyncClient, account: AccountKey, tls: TestTLS
) -> None:
    async with Receiver(tls) as hanging, Receiver(tls) as healthy:
        hanging.default_reply = Reply(200, delay_s=3600)  # accepts, reads, never answers
        slow = await create_webhook(api, account, sms_dlr(hanging.url_for("/slow")))
        fine = await create_webhook(api, account, sms_dlr(healthy.url_for("/fine")))
        slow_url = f"{API}/webhooks/{slow['id']}/test"
        running = [
            asyncio.create_task(api.post(slow_url, headers=account.headers)) for _ in range(2)
        ]
        await hanging.await_for(2, timeout=5)  # both are in flight
        third = await api.post(f"{API}/webhooks/{fine['id']}/test", headers=account.headers)
        assert_problem(third, 429, "test_concurrency_per_account", 2)
        retry_after = int(third.headers["Retry-After"])
        assert 1 <= retry_after <= math.ceil(TIMEOUT_S)
        assert healthy.requests == []

        for done in await asyncio.gather(*running):
            assert done.status_code == 200
            assert done.json()["error"] == f"timed out after {TIMEOUT_S:g} s"
        # Both ended: the account may test again.
        after = await api.post(f"{API}/webhooks/{fine['id']}/test", headers=account.headers)
        assert after.status_code == 200, after.text
        assert len(healthy.requests) == 1


async def test_dashboard_shows_the_webhook_cap_in_the_form(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    for i in range(20):
        await hub.richer_webhooks.create(account.account_id, spec(f"https://example.com/{i}"))
    token = await sign_in(api, account.api_key)
    url = "https://example.com/twenty-first"
    page = await api.post("/dashboard/webhooks/new", data=webhook_form(token, url=url))
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]
    assert "at most 20 richer webhooks (max_webhooks_per_account = 20)" in page.text
    assert url in page.text  # what was typed is kept
    assert len(await hub.richer_webhooks.list(account.account_id)) == 20


async def test_dashboard_test_button_shows_the_rate_limit(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, tls: TestTLS
) -> None:
    async with Receiver(tls) as receiver:
        url = receiver.url_for("/dlr")
        for _ in range(10):
            result = await hub.richer_webhooks.test(account.account_id, spec(url))
            assert result.error is None
        token = await sign_in(api, account.api_key)
        form = webhook_form(token, url=url, method="JSON", action="test")
        page = await api.post("/dashboard/webhooks/new", data=form)
        assert page.status_code == 429
        assert "text/html" in page.headers["content-type"]
        assert 1 <= int(page.headers["Retry-After"]) <= 60
        assert "at most 10 webhook tests per minute per account" in page.text
        assert "test_rate_per_minute = 10" in page.text
        assert len(receiver.requests) == 10
