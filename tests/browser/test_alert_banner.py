"""The dashboard's banner on a failing webhook (issue 13 item 4, docs/alerts.md): since when
it fails, its last error and when it will be disabled; once disabled, that it is, with a
button that enables it again. A real `dlrhub serve --dev` delivering to a receiver that fails."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import Dashboard, capture, reload_until, sign_in
from tests.support.cli import ServerProcess
from tests.support.receiver import Receiver, Reply
from tests.support.tls import make_tls

pytestmark = pytest.mark.browser

GW = "/api/partner-gateway/v1"
DISABLE_AFTER_S = 12
TIME = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """This module's own server: a webhook is disabled after failing for a few seconds."""
    work = tmp_path_factory.mktemp("alert-banner")
    tls = make_tls(work / "tls")
    env = {
        "DLRHUB_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'dlrhub.db'}",
        "DLRHUB_CA_BUNDLE": str(tls.ca_pem_path),
        "DLRHUB_SIMULATOR_DELAY_MS": "0",
        "DLRHUB_RETRY_SCHEDULE": ",".join(["1"] * 40),
        "DLRHUB_CIRCUIT_THRESHOLD": "100",
        "DLRHUB_DISABLE_AFTER_S": str(DISABLE_AFTER_S),
        "DLRHUB_POLL_INTERVAL_S": "0.2",
        "DLRHUB_LOG_LEVEL": "warning",
    }
    with Receiver(tls=tls) as receiver, ServerProcess(env, work / "logs") as server:
        yield Dashboard(server=server, env=env, receiver=receiver)


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def _fail_a_delivery(dashboard: Dashboard, api_key: str) -> None:
    """The delivery-status webhook at a receiver that answers 500, and one message for it."""
    dashboard.receiver.default_reply = Reply(500, body=b"down for maintenance")
    headers = {"X-Api-Key": api_key}
    with httpx.Client(base_url=dashboard.server.base_url, trust_env=False, timeout=10) as client:
        url = dashboard.receiver.url_for("/banner")
        created = client.post(
            f"{GW}/webhooks/delivery-status", json={"callbackUrl": url}, headers=headers
        )
        assert created.status_code == 201, created.text
        sent = client.post(
            "/api/message-server/sms/send",
            json={"destination": "+393401234567", "body": "hi", "simulation": True},
            headers=headers,
        )
        assert sent.status_code == 201, sent.text


def test_a_failing_webhook_shows_when_it_will_be_disabled_then_that_it_is(
    page: Any, dashboard: Dashboard
) -> None:
    _, api_key = dashboard.new_account()
    _fail_a_delivery(dashboard, api_key)
    dashboard.receiver.wait_for(1, timeout=20)
    sign_in(page, dashboard, api_key)
    banner = page.get_by_test_id("webhook-banner")
    reload_until(page, lambda: banner.count() == 1, "the failing banner on the list")
    text = banner.inner_text()
    assert "The delivery-status webhook is failing" in text
    assert "Last error: HTTP 500" in text
    found = re.search(rf"since {TIME}.*disabled at {TIME}", text, re.S)
    assert found, text
    since, disables = (_moment(found.group(i)) for i in (1, 2))
    assert disables - since == timedelta(seconds=DISABLE_AFTER_S)
    row = page.locator("tr[data-webhook-id='delivery-status']")
    expect(row).to_contain_text("failing")
    capture(page, "webhooks-failing")

    page.goto(dashboard.url + "/webhooks/delivery-status")
    detail = page.get_by_test_id("webhook-banner")
    expect(detail).to_contain_text("This webhook is failing")
    expect(detail).to_contain_text(f"disabled at {disables:%Y-%m-%d %H:%M:%S} UTC")

    # Still failing once the time is up: disabled, and the banner says so.
    reload_until(
        page, lambda: "is disabled" in detail.inner_text(), "the disabled banner", timeout=40
    )
    expect(detail).to_contain_text("This webhook is disabled since")
    expect(detail).to_contain_text("every attempt failed for")
    capture(page, "webhook-disabled")

    # The receiver is back: re-enabling sends the waiting delivery, and the banner goes.
    dashboard.receiver.default_reply = Reply(200)
    detail.get_by_role("button", name="Re-enable").click()
    page.wait_for_url(re.compile(r"/dashboard/webhooks/delivery-status\?done=enabled$"))
    expect(page.get_by_role("status").filter(has_text="Webhook enabled")).to_be_visible()
    reload_until(page, lambda: detail.count() == 0, "the banner to go once delivered")
