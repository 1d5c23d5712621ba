"""The dashboard's API keys page (SPEC §14), over httpx on both databases: list, create (the
key shown once), revoke (CSRF-checked), another account's key is 404."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.dashboard import sign_in

PAGE = "/dashboard/keys"
SECRET = "/api/partner-gateway/v1/account/signing-secret"


def _new_key_of(page: str) -> str:
    found = re.search(r'id="new-api-key" type="text" value="([^"]+)"', page)
    assert found, "the new key is not shown"
    return html.unescape(found.group(1))


async def test_list_create_and_revoke(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    token = await sign_in(api, account.api_key)
    listed = await api.get(PAGE)
    assert listed.status_code == 200
    assert '<a href="/dashboard/keys" aria-current="page">API keys</a>' in listed.text
    assert "default" in listed.text
    assert account.api_key not in listed.text

    created = await api.post(PAGE, data={"csrf_token": token, "name": "ci <runner>"})
    assert created.status_code == 200, created.text
    assert "ci &lt;runner&gt;" in created.text  # escaped
    new_key = _new_key_of(created.text)
    assert (await api.get(SECRET, headers={"X-Api-Key": new_key})).status_code == 200
    again = await api.get(PAGE)
    assert new_key not in again.text  # shown once
    (record,) = [k for k in await hub.accounts.list_keys(account.account_id) if k.name != "default"]
    assert f'data-key-id="{record.id}"' in again.text

    revoked = await api.post(f"{PAGE}/{record.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"{PAGE}?done=key-revoked"
    assert (await api.get(SECRET, headers={"X-Api-Key": new_key})).status_code == 401
    after = await api.get(revoked.headers["location"])
    assert "API key revoked" in after.text
    assert f'action="/dashboard/keys/{record.id}/revoke"' not in after.text


async def test_bad_names_are_shown_in_place(api: httpx.AsyncClient, account: AccountKey) -> None:
    token = await sign_in(api, account.api_key)
    for name in ("", "   ", "x" * 201, "bell\x07"):
        page = await api.post(PAGE, data={"csrf_token": token, "name": name})
        assert page.status_code == 400, (name, page.text)
        assert 'aria-invalid="true"' in page.text
        assert 'id="new-api-key"' not in page.text


async def test_forms_need_the_csrf_token(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    await sign_in(api, account.api_key)
    (record,) = await hub.accounts.list_keys(account.account_id)
    assert (await api.post(PAGE, data={"name": "x"})).status_code == 403
    assert (await api.post(f"{PAGE}/{record.id}/revoke", data={})).status_code == 403
    forged = await api.post(f"{PAGE}/{record.id}/revoke", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert (await hub.accounts.list_keys(account.account_id))[0].revoked_at is None
    assert len(await hub.accounts.list_keys(account.account_id)) == 1


async def test_another_accounts_key_is_404(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    token = await sign_in(api, account.api_key)
    other = await hub.accounts.create(f"other-{uuid.uuid4().hex[:8]}")
    (theirs,) = await hub.accounts.list_keys(other.account_id)
    for key_id in (theirs.id, str(uuid.uuid4()), "nope"):
        page = await api.post(f"{PAGE}/{key_id}/revoke", data={"csrf_token": token})
        assert page.status_code == 404, page.text
    assert (await hub.accounts.list_keys(other.account_id))[0].revoked_at is None
    assert theirs.prefix not in (await api.get(PAGE)).text


async def test_revoking_the_sessions_own_key_ends_the_session(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    token = await sign_in(api, account.api_key)
    (own,) = await hub.accounts.list_keys(account.account_id)
    done = await api.post(f"{PAGE}/{own.id}/revoke", data={"csrf_token": token})
    assert done.status_code == 303
    page = await api.get(PAGE)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/dashboard/login")


async def test_signed_out_visitors_are_sent_to_sign_in(api: httpx.AsyncClient) -> None:
    page = await api.get(PAGE)
    assert page.status_code == 303
    assert page.headers["location"] == "/dashboard/login?next=/dashboard/keys"
