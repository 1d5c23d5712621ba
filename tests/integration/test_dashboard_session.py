"""The dashboard's sign-in, session cookie and CSRF rules, in-process on both databases."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from http.cookies import SimpleCookie

import httpx
import pytest

from dlrhub.api.app import create_app
from dlrhub.services.hub import Hub
from tests.conftest import AccountKey, make_settings

COOKIE = "dlrhub_session"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def set_cookie(response: httpx.Response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


async def sign_in(client: httpx.AsyncClient, api_key: str) -> str:
    """Sign in through the form; returns the signed-in session's CSRF token."""
    page = await client.get("/dashboard/login")
    done = await client.post(
        "/dashboard/login", data={"csrf_token": csrf_of(page.text), "apiKey": api_key}
    )
    assert done.status_code == 303, done.text
    return csrf_of((await client.get("/dashboard/messages")).text)


async def test_sign_in_sets_a_hardened_cookie_without_the_key(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    page = await api.get("/dashboard/login")
    assert page.status_code == 200
    anonymous = set_cookie(page)[COOKIE]
    assert anonymous["httponly"] is True
    assert anonymous["samesite"].lower() == "lax"
    assert anonymous["path"] == "/dashboard"

    done = await api.post(
        "/dashboard/login", data={"csrf_token": csrf_of(page.text), "apiKey": account.api_key}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/dashboard/webhooks"
    cookie = set_cookie(done)[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert account.api_key not in cookie.value
    assert cookie.value != anonymous.value
    # A fresh CSRF token comes with the signed-in session.
    assert csrf_of((await api.get("/dashboard/webhooks")).text) != csrf_of(page.text)


async def test_wrong_key_is_refused(api: httpx.AsyncClient) -> None:
    page = await api.get("/dashboard/login")
    refused = await api.post(
        "/dashboard/login", data={"csrf_token": csrf_of(page.text), "apiKey": "dlr_wrong"}
    )
    assert refused.status_code == 401
    assert "not valid" in refused.text
    still_out = await api.get("/dashboard/webhooks")
    assert still_out.status_code == 303
    assert still_out.headers["location"].startswith("/dashboard/login?next=")


async def test_sign_in_without_csrf_token_is_refused(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    await api.get("/dashboard/login")
    refused = await api.post("/dashboard/login", data={"apiKey": account.api_key})
    assert refused.status_code == 403
    assert (await api.get("/dashboard/webhooks")).status_code == 303


async def test_pages_need_a_session(api: httpx.AsyncClient) -> None:
    for path in ("/dashboard/webhooks", "/dashboard/deliveries", "/dashboard/messages"):
        response = await api.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/dashboard/login?next={path}"
    assert (await api.get("/dashboard")).headers["location"] == "/dashboard/login"


async def test_a_tampered_cookie_is_no_session(api: httpx.AsyncClient, account: AccountKey) -> None:
    await sign_in(api, account.api_key)
    value = api.cookies[COOKIE]
    api.cookies.clear()
    api.cookies.set(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    response = await api.get("/dashboard/webhooks")
    assert response.status_code == 303


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/logout",
        "/dashboard/messages/send",
        "/dashboard/webhooks/new",
        "/dashboard/webhooks/delivery-status/edit",
        "/dashboard/webhooks/delivery-status/delete",
    ],
)
async def test_posts_without_the_sessions_csrf_token_are_refused(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, path: str
) -> None:
    await hub.delivery_status.create(account.account_id, "https://example.com/status")
    await sign_in(api, account.api_key)
    form = {"callbackUrl": "https://example.com/changed", "channel": "SMS", "body": "x"}
    missing = await api.post(path, data=form)
    assert missing.status_code == 403
    assert "security token" in missing.text
    wrong = await api.post(path, data={**form, "csrf_token": "not-the-token"})
    assert wrong.status_code == 403
    # Nothing happened: still signed in, the webhook unchanged.
    assert (await api.get("/dashboard/webhooks")).status_code == 200
    current = await hub.delivery_status.get(account.account_id)
    assert current.url == "https://example.com/status"


async def test_a_token_from_another_session_is_refused(
    hub: Hub, api: httpx.AsyncClient, account: AccountKey
) -> None:
    other = await hub.accounts.create("csrf-attacker")
    attacker_token = await sign_in(api, other.api_key)
    api.cookies.clear()
    await sign_in(api, account.api_key)
    refused = await api.post(
        "/dashboard/webhooks/delivery-status/edit",
        data={"csrf_token": attacker_token, "callbackUrl": "https://evil.example/x"},
    )
    assert refused.status_code == 403


async def test_sign_out_ends_the_session(api: httpx.AsyncClient, account: AccountKey) -> None:
    token = await sign_in(api, account.api_key)
    out = await api.post("/dashboard/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert out.headers["location"] == "/dashboard/login?done=signed-out"
    assert set_cookie(out)[COOKIE]["max-age"] == "0"
    assert (await api.get("/dashboard/webhooks")).status_code == 303


async def test_next_only_leads_into_the_dashboard(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    page = await api.get("/dashboard/login", params={"next": "https://evil.example/"})
    done = await api.post(
        "/dashboard/login",
        data={
            "csrf_token": csrf_of(page.text),
            "apiKey": account.api_key,
            "next": "//evil.example/",
        },
    )
    assert done.headers["location"] == "/dashboard/webhooks"


async def test_pages_carry_security_headers(api: httpx.AsyncClient, account: AccountKey) -> None:
    await sign_in(api, account.api_key)
    page = await api.get("/dashboard/webhooks")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"


async def test_sessions_are_signed_by_the_process_secret(
    hub: Hub, db_url: str, account: AccountKey
) -> None:
    """Unset, each process signs with its own random secret; a shared `dashboard_secret`
    lets several processes accept each other's sessions."""

    async def cookie_accepted(first: str | None, second: str | None) -> bool:
        async with AsyncExitStack() as stack:
            clients = []
            for secret in (first, second):
                settings = make_settings(db_url, dashboard_secret=secret)
                app = create_app(settings, run_workers=False, hub=hub)
                await stack.enter_async_context(app.router.lifespan_context(app))
                transport = httpx.ASGITransport(app=app)
                client = httpx.AsyncClient(transport=transport, base_url="http://dlrhub.test")
                clients.append(await stack.enter_async_context(client))
            await sign_in(clients[0], account.api_key)
            clients[1].cookies.set(COOKIE, clients[0].cookies[COOKIE])
            return (await clients[1].get("/dashboard/webhooks")).status_code == 200

    assert not await cookie_accepted(None, None)
    assert await cookie_accepted("shared-secret-for-tests", "shared-secret-for-tests")
