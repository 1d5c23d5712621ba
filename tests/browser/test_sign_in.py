"""Signing in and out of the dashboard in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import Dashboard, capture, sign_in

pytestmark = pytest.mark.browser

LOGIN_REDIRECT = re.compile(r"/dashboard/login\?next=")


def test_wrong_key_is_refused_and_right_key_signs_in_and_out(
    page: Any, dashboard: Dashboard
) -> None:
    _, api_key = dashboard.new_account()
    page.goto(dashboard.url + "/messages")
    page.wait_for_url(LOGIN_REDIRECT)
    capture(page, "login")

    page.get_by_label("API key").fill("dlr_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "not valid" in alert.inner_text()
    assert page.get_by_role("navigation", name="Main").count() == 0
    capture(page, "login-refused")

    sign_in(page, dashboard, api_key, landing="/messages")
    cookie = next(c for c in page.context.cookies() if c["name"] == "dlrhub_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert api_key not in cookie["value"]

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/dashboard/login\?done=signed-out$"))
    assert "signed out" in page.get_by_role("status").inner_text()
    page.goto(dashboard.url + "/messages")
    page.wait_for_url(LOGIN_REDIRECT)
