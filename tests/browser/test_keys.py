"""API keys in the browser (SPEC §14): create one (shown once), use it, revoke it; every control
labelled; revoking the key the session was opened with ends the session."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import Dashboard, capture, sign_in

pytestmark = pytest.mark.browser

SECRET = "/api/partner-gateway/v1/account/signing-secret"


def _status(dashboard: Dashboard, api_key: str) -> int:
    with httpx.Client(base_url=dashboard.server.base_url, trust_env=False, timeout=10) as client:
        return client.get(SECRET, headers={"X-Api-Key": api_key}).status_code


def test_create_use_and_revoke_a_key(page: Any, dashboard: Dashboard) -> None:
    _, api_key = dashboard.new_account()
    sign_in(page, dashboard, api_key)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.wait_for_url("**/dashboard/keys")
    capture(page, "keys")

    page.get_by_role("button", name="Create key").click()  # no name: refused in place
    expect(page.get_by_label("Key name")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Key name").fill("browser test")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("API key", exact=True)
    new_key = shown.input_value()
    assert new_key.startswith("dlr_")
    capture(page, "keys-created")
    assert _status(dashboard, new_key) == 200

    row = page.locator("tr", has_text="browser test")
    expect(row).to_contain_text("active")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile(r"^Revoke key .*browser test")).click()
    page.wait_for_url(re.compile(r"/dashboard/keys\?done=key-revoked$"))
    expect(page.get_by_role("status")).to_contain_text("API key revoked")
    expect(page.locator("tr", has_text="browser test")).to_contain_text("revoked")
    expect(page.get_by_label("API key", exact=True)).to_have_count(0)  # shown only once
    assert _status(dashboard, new_key) == 401
    assert _status(dashboard, api_key) == 200


def test_revoking_the_sessions_own_key_signs_out(page: Any, dashboard: Dashboard) -> None:
    _, api_key = dashboard.new_account()
    sign_in(page, dashboard, api_key)
    page.goto(dashboard.url + "/keys")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="default").get_by_role("button", name=re.compile("^Revoke")).click()
    page.wait_for_url(re.compile(r"/dashboard/login"))
    expect(page.get_by_label("API key")).to_be_visible()
    assert _status(dashboard, api_key) == 401
