"""Signing out and revoking the key end a dashboard session in a real browser (SPEC §14), and
behind a trusted proxy failed sign-ins are counted per forwarded client address."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import Dashboard, sign_in
from tests.support.cli import ServerProcess

pytestmark = pytest.mark.browser

COOKIE = "dlrhub_session"
LOGIN_REDIRECT = re.compile(r"/dashboard/login\?next=")
KEYS = "/api/partner-gateway/v1/account/api-keys"


def session_cookie(page: Any) -> dict[str, Any]:
    cookie: dict[str, Any] = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    return cookie


def open_with_cookie(browser: Any, dashboard: Dashboard, cookie: dict[str, Any]) -> str:
    """The URL a fresh browser holding only `cookie` lands on when it opens the messages page."""
    context = browser.new_context()
    try:
        context.set_default_timeout(10_000)
        context.add_cookies([cookie])
        fresh = context.new_page()
        fresh.goto(dashboard.url + "/messages")
        if LOGIN_REDIRECT.search(fresh.url):
            assert fresh.get_by_label("API key").is_visible()
        url: str = fresh.url
        return url
    finally:
        context.close()


def test_a_copied_cookie_is_worthless_after_sign_out(
    browser: Any, page: Any, dashboard: Dashboard
) -> None:
    _, api_key = dashboard.new_account()
    sign_in(page, dashboard, api_key)
    copied = session_cookie(page)
    # The copy works while the session lives: what follows is the sign-out's doing.
    assert open_with_cookie(browser, dashboard, copied).endswith("/dashboard/messages")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/dashboard/login\?done=signed-out$"))

    assert LOGIN_REDIRECT.search(open_with_cookie(browser, dashboard, copied))


def test_revoking_the_key_ends_the_session(page: Any, dashboard: Dashboard) -> None:
    _, api_key = dashboard.new_account()
    sign_in(page, dashboard, api_key)
    page.goto(dashboard.url + "/messages")
    assert page.get_by_role("navigation", name="Main").count() == 1

    with httpx.Client(base_url=dashboard.server.base_url, headers={"X-Api-Key": api_key}) as api:
        [key] = api.get(KEYS).raise_for_status().json()["items"]
        assert api.delete(f"{KEYS}/{key['id']}").status_code == 204

    page.reload()
    page.wait_for_url(LOGIN_REDIRECT)
    assert page.get_by_label("API key").is_visible()


def failed_sign_in(base_url: str, forwarded_for: str) -> int:
    """One sign-in with a wrong key, as a proxy would forward it; the answer's status."""
    headers = {"X-Forwarded-For": forwarded_for}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        page = client.get("/dashboard/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text
        data = {"csrf_token": found.group(1), "apiKey": "dlr_wrong"}
        return client.post("/dashboard/login", data=data).status_code


@pytest.mark.parametrize(("trusted", "other_address_status"), [("127.0.0.1", 401), (None, 429)])
def test_sign_in_failures_count_per_forwarded_address_only_from_a_trusted_proxy(
    tmp_path: Path, trusted: str | None, other_address_status: int
) -> None:
    """With DLRHUB_FORWARDED_ALLOW_IPS naming the proxy, each forwarded client has its own
    count; unset, X-Forwarded-For is ignored, so a client cannot escape the limit by
    inventing addresses."""
    env = {
        "DLRHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dlrhub.db'}",
        "DLRHUB_SIGN_IN_FAILURES_PER_MINUTE": "2",
        "DLRHUB_LOG_LEVEL": "warning",
    }
    if trusted is not None:
        env["DLRHUB_FORWARDED_ALLOW_IPS"] = trusted
    with ServerProcess(env, tmp_path / "logs") as server:
        statuses = [failed_sign_in(server.base_url, "203.0.113.1") for _ in range(3)]
        assert statuses == [401, 401, 429]
        assert failed_sign_in(server.base_url, "203.0.113.2") == other_address_status
