"""Acceptance (issue 4): `POST /webhooks/{id}/test` returns what was sent and what came back,
and a readable `error` for a closed port, a slow endpoint and an untrusted certificate."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from dlrhub.config import Settings
from dlrhub.services.richer_webhooks import WebhookSpec
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey, signing_secret
from tests.support.inprocess import serving
from tests.support.net import closed_port
from tests.support.receiver import Receiver, Reply
from tests.support.richer_webhooks import (
    MO_NAMES,
    NUMBER_A,
    WA_DLR_NAMES,
    RawReceiver,
    create_webhook,
    webhook_body,
)
from tests.support.stack import make_settings
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls, make_untrusted_server_context


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def settings(db_url: str, tls: TestTLS) -> Settings:
    return make_settings(db_url, ca_bundle=tls.ca_pem_path)


async def run_test(api: httpx.AsyncClient, account: AccountKey, webhook_id: str) -> dict[str, Any]:
    response = await api.post(f"{API}/webhooks/{webhook_id}/test", headers=account.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_reports_the_receivers_status_headers_body_and_duration(
    api: httpx.AsyncClient, account: AccountKey, hub: Hub, tls: TestTLS
) -> None:
    await hub.accounts.add_waba_number(account.account_id, NUMBER_A)
    secret = await signing_secret(api, account)
    async with RawReceiver(tls) as receiver:
        body = webhook_body(
            "WHATSAPP",
            "DLR",
            "GET",
            receiver.url_for("/dlr") + "?token=abc",
            waba_number=NUMBER_A,
            custom_params={"source": "dlr hub"},
            custom_headers={"X-Tenant": "acme"},
        )
        webhook = await create_webhook(api, account, body)
        base = receiver.url_for("/dlr")
        reply = b"accepted " + b"x" * 5000
        receiver.respond_with(Reply(202, body=reply, headers={"X-Reply": "yes"}, delay_s=0.3))
        started = time.monotonic()
        result = await run_test(api, account, webhook["id"])
        elapsed_ms = (time.monotonic() - started) * 1000
        [received] = receiver.requests

    assert result["error"] is None
    response = result["response"]
    assert response["status"] == 202
    assert response["headers"]["X-Reply"] == "yes"
    assert response["body"] == reply[:4096].decode()
    assert 300 <= response["durationMs"] <= elapsed_ms
    # What it says it sent is what arrived, signed like a real event.
    sent = result["request"]
    assert sent["method"] == "GET"
    raw_query = receiver.raw_query(received)
    assert sent["url"] == base + "?" + raw_query
    assert sent["body"] == ""
    for name, value in sent["headers"].items():
        assert received.header(name) == value
    assert sent["headers"]["X-Tenant"] == "acme"
    verify(secret, received.headers, raw_query.encode())
    values = dict(parse_qsl(raw_query, keep_blank_values=True))
    assert values["token"] == "abc"
    assert values["source"] == "dlr hub"
    assert set(WA_DLR_NAMES.values()) <= set(values)
    assert values[WA_DLR_NAMES["status"]] == "DELIVERED"
    assert values[WA_DLR_NAMES["errorCode"]] == "0"


async def test_an_mo_webhook_gets_a_sample_of_its_own_format(
    api: httpx.AsyncClient, account: AccountKey, tls: TestTLS
) -> None:
    async with Receiver(tls) as receiver:
        body = webhook_body("WHATSAPP", "MO", "XML", receiver.url_for("/mo"))
        webhook = await create_webhook(api, account, body)
        result = await run_test(api, account, webhook["id"])
        [received] = receiver.requests
    assert result["response"]["status"] == 200
    assert result["request"]["body"] == received.body.decode()
    assert received.header("content-type") == "application/xml"
    root = ET.fromstring(received.body)
    assert [child.tag for child in root] == list(MO_NAMES.values())


async def test_a_closed_port_is_a_readable_error(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    url = f"https://127.0.0.1:{closed_port()}/dlr"
    webhook = await create_webhook(api, account, webhook_body("SMS", "DLR", "JSON", url))
    result = await run_test(api, account, webhook["id"])
    assert result["response"] is None
    assert result["error"].startswith("could not connect")
    assert result["request"]["url"] == url


async def test_an_untrusted_certificate_is_a_readable_error(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    async with Receiver(make_untrusted_server_context()) as receiver:
        body = webhook_body("SMS", "DLR", "POST", receiver.url_for("/dlr"))
        webhook = await create_webhook(api, account, body)
        result = await run_test(api, account, webhook["id"])
        assert receiver.requests == []
    assert result["response"] is None
    assert "certificate" in result["error"]


@asynccontextmanager
async def api_with(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, AccountKey]]:
    hub = Hub.build(settings)
    app = create_app(settings, run_workers=False, hub=hub)
    try:
        async with serving(app) as client:
            created = await hub.accounts.create("slow")
            yield client, AccountKey(created.account_id, created.api_key)
    finally:
        await hub.db.dispose()


@pytest.mark.parametrize("timeout_s", [0.5, 5.0])
async def test_a_slow_endpoint_times_out_with_a_readable_error(
    db_url: str, tls: TestTLS, timeout_s: float
) -> None:
    """Over DLRHUB_DELIVERY_TIMEOUT_S: once shortened for speed, once at the real 5 s."""
    settings = make_settings(db_url, ca_bundle=tls.ca_pem_path, delivery_timeout_s=timeout_s)
    async with api_with(settings) as (api, account), Receiver(tls) as receiver:
        receiver.default_reply = Reply(200, delay_s=timeout_s + 5)
        body = webhook_body("SMS", "DLR", "XML", receiver.url_for("/slow"))
        webhook = await create_webhook(api, account, body)
        started = time.monotonic()
        result = await run_test(api, account, webhook["id"])
        elapsed = time.monotonic() - started
        assert len(receiver.requests) == 1
    # Cut at the timeout, not answered late: the reply would only have come timeout_s + 5 s
    # in, with a status, so no response at all says the cut happened (no clock needed).
    assert result["response"] is None
    assert result["error"] == f"timed out after {timeout_s:g} s"
    assert elapsed >= timeout_s


async def test_an_unsaved_configuration_can_be_tested(
    hub: Hub, account: AccountKey, tls: TestTLS
) -> None:
    """The dashboard's Test button: the service, without the app holding the client open."""
    async with Receiver(tls) as receiver:
        spec = WebhookSpec(
            product="SMS",
            report_type="DLR",
            method="POST",
            url=receiver.url_for("/unsaved"),
            waba_number=None,
            parameters={k: v for k, v in WA_DLR_NAMES.items() if k not in ("readTime", "status")},
            custom_params={},
            custom_headers={},
        )
        result = await hub.richer_webhooks.test(account.account_id, spec)
        [received] = receiver.requests
    assert result.error is None
    assert result.response is not None
    assert result.response["status"] == 200
    assert received.body == str(result.request["body"]).encode()
    assert received.header("content-type") == "application/x-www-form-urlencoded"


async def test_unknown_and_foreign_webhooks_are_not_found(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    other = await hub.accounts.create("other")
    body = webhook_body("SMS", "DLR", "JSON", "https://127.0.0.1:1/x")
    theirs = await create_webhook(api, AccountKey(other.account_id, other.api_key), body)
    for webhook_id in (theirs["id"], "no-such-id", "delivery-status"):
        response = await api.post(f"{API}/webhooks/{webhook_id}/test", headers=account.headers)
        assert response.status_code == 404, webhook_id
        assert response.headers["content-type"] == "application/problem+json"
