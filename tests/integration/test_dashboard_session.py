"""The dashboard's sign-in, server-side sessions, cookie and CSRF rules, in-process on both
databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from dlrhub.config import Settings
from dlrhub.domain.tokens import token_digest as hash_token
from dlrhub.store.schema import dashboard_sessions
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.dashboard import csrf_of, sign_in
from tests.support.stack import make_settings

COOKIE = "dlrhub_session"


def set_cookie(response: httpx.Response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


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


@asynccontextmanager
async def app_for(
    settings: Settings, hub: Hub, *addresses: str
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One in-process app and a client per client address (the app sees `request.client`)."""
    app = create_app(settings, run_workers=False, hub=hub)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        clients = []
        for address in addresses:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            client = httpx.AsyncClient(transport=transport, base_url="http://dlrhub.test")
            clients.append(await stack.enter_async_context(client))
        yield clients


async def dead_cookie_is_refused(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, cookie: str, csrf: str
) -> None:
    """A browser holding `cookie` is signed out: pages lead to sign-in and its forms do
    nothing (a POST with the session's own CSRF token is refused too)."""
    api.cookies.clear()
    api.cookies.set(COOKIE, cookie)
    page = await api.get("/dashboard/webhooks")
    assert page.status_code == 303
    assert page.headers["location"] == "/dashboard/login?next=/dashboard/webhooks"
    posted = await api.post(
        "/dashboard/webhooks/delivery-status/edit",
        data={"csrf_token": csrf, "callbackUrl": "https://evil.example/x"},
    )
    assert posted.status_code == 303
    assert posted.headers["location"].startswith("/dashboard/login")
    assert (await hub.delivery_status.get(account.account_id)).url == "https://example.com/status"


async def test_a_copied_cookie_is_refused_after_sign_out(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    await hub.delivery_status.create(account.account_id, "https://example.com/status")
    csrf = await sign_in(api, account.api_key)
    copied = api.cookies[COOKIE]
    out = await api.post("/dashboard/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    await dead_cookie_is_refused(api, hub, account, copied, csrf)
    assert await hub.sessions.find(copied) is None


async def test_revoking_the_key_ends_its_sessions_only(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    await hub.delivery_status.create(account.account_id, "https://example.com/status")
    other_key = await hub.accounts.create_key(account.account_id, "second")
    csrf = await sign_in(api, account.api_key)
    revoked_cookie = api.cookies[COOKIE]
    api.cookies.clear()
    await sign_in(api, other_key.api_key)
    kept_cookie = api.cookies[COOKIE]

    [first_key] = [
        key
        for key in await hub.accounts.list_keys(account.account_id)
        if account.api_key.startswith(key.prefix)
    ]
    await hub.accounts.revoke_key(account.account_id, first_key.id)

    await dead_cookie_is_refused(api, hub, account, revoked_cookie, csrf)
    # The session opened with the account's other key lives on.
    api.cookies.clear()
    api.cookies.set(COOKIE, kept_cookie)
    assert (await api.get("/dashboard/webhooks")).status_code == 200
    # And the revoked key cannot open a new one.
    api.cookies.clear()
    page = await api.get("/dashboard/login")
    refused = await api.post(
        "/dashboard/login", data={"csrf_token": csrf_of(page.text), "apiKey": account.api_key}
    )
    assert refused.status_code == 401


async def test_a_cookie_signed_with_an_account_is_no_session(
    db_url: str, hub: Hub, account: AccountKey
) -> None:
    """Before sessions moved to the server, a signed cookie carried the account: with the same
    secret, such a cookie (however obtained) must not sign anyone in."""
    secret = "shared-secret-for-tests"
    forged = URLSafeTimedSerializer(secret, salt="dlrhub.dashboard.session").dumps(
        {"c": "csrf", "a": account.account_id}
    )
    settings = make_settings(db_url, dashboard_secret=secret)
    async with app_for(settings, hub, "127.0.0.1") as (client,):
        client.cookies.set(COOKIE, forged)
        assert (await client.get("/dashboard/webhooks")).status_code == 303


async def test_a_session_holds_on_every_process_until_signed_out_on_one(
    db_url: str, hub: Hub, account: AccountKey
) -> None:
    """Two processes with their own random secrets share sessions through the database, and
    signing out on one ends the session on the other at once."""
    settings = make_settings(db_url)
    async with app_for(settings, hub, "127.0.0.1") as (first,):
        other_hub = Hub.build(settings)
        try:
            async with app_for(settings, other_hub, "127.0.0.1") as (second,):
                csrf = await sign_in(first, account.api_key)
                second.cookies.set(COOKIE, first.cookies[COOKIE])
                assert (await second.get("/dashboard/webhooks")).status_code == 200
                assert (
                    await second.post("/dashboard/logout", data={"csrf_token": csrf})
                ).status_code == 303
                assert (await first.get("/dashboard/webhooks")).status_code == 303
        finally:
            await other_hub.db.dispose()


@pytest.fixture
async def hub_with_dev(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[Hub]:
    built = Hub.build(make_settings(db_url, dev=request.param))
    try:
        yield built
    finally:
        await built.db.dispose()


@pytest.mark.parametrize(
    ("hub_with_dev", "secure"), [(False, True), (True, False)], indirect=["hub_with_dev"]
)
async def test_cookies_are_secure_outside_dev(
    hub_with_dev: Hub, account: AccountKey, secure: bool
) -> None:
    """Outside `--dev` the app may sit behind a TLS proxy and see plain http: the cookie is
    Secure anyway, so a browser never sends it over an unencrypted connection."""
    hub = hub_with_dev
    async with app_for(hub.settings, hub, "127.0.0.1") as (client,):
        page = await client.get("/dashboard/login")
        anonymous = set_cookie(page)[COOKIE]
        # httpx keeps Secure cookies off http://: carry them by hand.
        client.cookies.set(COOKIE, anonymous.value)
        done = await client.post(
            "/dashboard/login", data={"csrf_token": csrf_of(page.text), "apiKey": account.api_key}
        )
        signed_in = set_cookie(done)[COOKIE]
        client.cookies.set(COOKIE, signed_in.value)
        csrf = csrf_of((await client.get("/dashboard/webhooks")).text)
        out = set_cookie(await client.post("/dashboard/logout", data={"csrf_token": csrf}))[COOKIE]
    for cookie in (anonymous, signed_in, out):
        assert bool(cookie["secure"]) is secure
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "lax"
        assert cookie["path"] == "/dashboard"


async def failed_sign_in(client: httpx.AsyncClient, api_key: str) -> httpx.Response:
    page = await client.get("/dashboard/login")
    return await client.post(
        "/dashboard/login", data={"csrf_token": csrf_of(page.text), "apiKey": api_key}
    )


async def test_failed_sign_ins_are_limited_per_address(
    settings: Settings, hub: Hub, account: AccountKey
) -> None:
    assert settings.sign_in_failures_per_minute == 10
    async with app_for(settings, hub, "203.0.113.7", "198.51.100.9") as (guesser, other):
        for attempt in range(10):
            response = await failed_sign_in(guesser, f"dlr_guess-{attempt}")
            assert response.status_code == 401, attempt
        # The 11th attempt is refused without looking at the key, even a valid one.
        limited = await failed_sign_in(guesser, account.api_key)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "Too many failed sign-ins" in limited.text
        assert not limited.headers.get_list("set-cookie")
        assert (await guesser.get("/dashboard/webhooks")).status_code == 303
        # Another address signs in as usual.
        await sign_in(other, account.api_key)
        assert (await other.get("/dashboard/webhooks")).status_code == 200


async def test_expired_sessions_are_refused_and_swept(db_url: str, account: AccountKey) -> None:
    moments = [datetime(2030, 1, 1, tzinfo=UTC)]
    clocked = Hub.build(make_settings(db_url), clock=lambda: moments[0])
    try:
        first = await clocked.sessions.open(account.api_key)
        moments[0] += timedelta(hours=12) - timedelta(seconds=1)
        assert await clocked.sessions.find(first.token) is not None
        moments[0] += timedelta(seconds=1)
        assert await clocked.sessions.find(first.token) is None
        second = await clocked.sessions.open(account.api_key)  # sweeps the expired one
        async with clocked.db.reading() as conn:
            left = (await conn.execute(select(dashboard_sessions.c.token_hash))).scalars().all()
        assert left == [hash_token(second.token)]
    finally:
        await clocked.db.dispose()
