"""Driving the dashboard over httpx: signing in through the form, and a webhook form to post."""

from __future__ import annotations

import re

import httpx

__all__ = ["DLR_FIELDS", "csrf_of", "sign_in", "webhook_form"]

# The SMS DLR parameters the webhook form offers (SPEC §8).
DLR_FIELDS = (
    "transactionId",
    "messageId",
    "errorCode",
    "mobileNumber",
    "receivedTime",
    "deliveredTime",
)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, api_key: str) -> str:
    """Sign in through the form; returns the signed-in session's CSRF token."""
    page = await client.get("/dashboard/login")
    done = await client.post(
        "/dashboard/login", data={"csrf_token": csrf_of(page.text), "apiKey": api_key}
    )
    assert done.status_code == 303, done.text
    return csrf_of((await client.get("/dashboard/messages")).text)


def webhook_form(token: str, **overrides: str) -> dict[str, str | list[str]]:
    """A valid "new webhook" form (SMS DLR, POST) with `overrides` applied."""
    form: dict[str, str | list[str]] = {
        "csrf_token": token,
        "product": "SMS",
        "method": "POST",
        "reportType": "DLR",
        "url": "https://example.com/dlr",
        **{f"parameters.{n}": f"my_{n}" for n in DLR_FIELDS},
        "action": "save",
    }
    form.update(overrides)
    return form
