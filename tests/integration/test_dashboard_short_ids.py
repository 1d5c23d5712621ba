"""Webhooks made together are told apart in the dashboard (issue 9, item 11): their UUIDv7 ids
share the first 8 hex digits (a timestamp), so the dashboard shows another part of them,
with the full id on hover, in the webhooks table, the health strip and the delivery log."""

from __future__ import annotations

import re

import httpx

from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey
from tests.support.dashboard import sign_in
from tests.support.richer_webhooks import NUMBER_A, create_webhook, webhook_body


def _section(html: str, start: str, end: str) -> str:
    """The part of a page from the first `start` to the next `end`."""
    begin = html.index(start)
    return html[begin : html.index(end, begin)]


def _shown_in_row(table: str, webhook_id: str) -> str:
    """The id text of the webhooks table's row for `webhook_id`."""
    row = _section(table, f'<tr data-webhook-id="{webhook_id}">', "</tr>")
    match = re.search(r"<code[^>]*>([^<]*)</code>", row)
    assert match, row
    return match.group(1)


def _shown_in_link(html: str, webhook_id: str) -> str:
    """The id text of the link to `webhook_id`'s page (health strip, delivery log)."""
    link = rf'<a href="/dashboard/webhooks/{webhook_id}"[^>]*>\s*<code[^>]*>([^<]*)</code>'
    found = re.findall(link, html)
    assert len(found) == 1, (webhook_id, html)
    return str(found[0])


def _check_told_apart(shown: dict[str, str], html: str) -> None:
    first, second = shown
    assert shown[first] != shown[second], shown
    for webhook_id, text in shown.items():
        assert text, shown
        assert text in webhook_id.replace("-", ""), shown
        assert f'title="{webhook_id}' in html, webhook_id  # the full id on hover


async def _two_webhooks_made_together(api: httpx.AsyncClient, account: AccountKey) -> list[str]:
    """Two WhatsApp MO webhooks whose ids share their first 8 hex digits (the old short id)."""
    made: list[str] = []
    while True:
        body = webhook_body("WHATSAPP", "MO", "JSON", f"https://crm.example.com/mo/{len(made)}")
        made.append(str((await create_webhook(api, account, body))["id"]))
        twins = [w for w in made if w[:8] == made[-1][:8]]
        if len(twins) == 2:  # a third is needed only when the first two straddle a 65 s tick
            return twins


async def test_webhooks_made_together_have_different_short_ids_on_every_page(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    await hub.accounts.add_waba_number(account.account_id, NUMBER_A)
    first, second = await _two_webhooks_made_together(api, account)
    inbound = await api.post(
        f"{API}/simulate/inbound",
        json={
            "source": "+393401234567",
            "destination": NUMBER_A,
            "channel": "WHATSAPP",
            "text": "hi",
        },
        headers=account.headers,
    )
    assert inbound.status_code == 201, inbound.text
    await sign_in(api, account.api_key)

    webhooks = (await api.get("/dashboard/webhooks")).text
    table = _section(webhooks, "<table", "</table>")
    _check_told_apart({w: _shown_in_row(table, w) for w in (first, second)}, table)

    health = _section(webhooks, '<section class="health"', "</section>")
    _check_told_apart({w: _shown_in_link(health, w) for w in (first, second)}, health)

    log = (await api.get("/dashboard/deliveries")).text
    deliveries = _section(log, 'data-testid="deliveries-table"', "</table>")
    _check_told_apart({w: _shown_in_link(deliveries, w) for w in (first, second)}, deliveries)
