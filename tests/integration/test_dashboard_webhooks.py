"""Dashboard webhook and delivery pages over httpx, on both databases: the forms go through
the services (errors shown in place, values kept) and another account's things are 404."""

from __future__ import annotations

import re

import httpx

from dlrhub.domain.status import Channel
from dlrhub.services.richer_webhooks import WebhookSpec
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.dashboard import sign_in, webhook_form

DLR_NAMES = ["transactionId", "messageId", "errorCode", "mobileNumber", "receivedTime"]


async def others_webhook_and_delivery(hub: Hub) -> tuple[str, str]:
    """Another account with a richer webhook and one delivery (to its delivery-status hook)."""
    other = await hub.accounts.create("someone-else")
    spec = WebhookSpec(
        product="SMS",
        report_type="DLR",
        method="JSON",
        url="https://example.com/theirs",
        parameters={n: n for n in [*DLR_NAMES, "deliveredTime"]},
    )
    webhook = await hub.richer_webhooks.create(other.account_id, spec)
    await hub.delivery_status.create(other.account_id, "https://example.com/their-status")
    await hub.messaging.receive_inbound(
        other.account_id,
        source="+393401234567",
        destination="+393409876543",
        channel=Channel.SMS,
        text="hi",
    )
    page = await hub.deliveries.list(other.account_id)
    return webhook.id, page.items[0].id


async def test_create_edit_and_delete_through_the_forms(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    token = await sign_in(api, account.api_key)
    empty = await api.get("/dashboard/webhooks")
    assert 'data-testid="webhooks-empty"' in empty.text

    created = await api.post("/dashboard/webhooks/new", data=webhook_form(token))
    assert created.status_code == 303, created.text
    webhook_id = created.headers["location"].split("/")[-1].split("?")[0]
    saved = await hub.richer_webhooks.get(account.account_id, webhook_id)
    assert saved.parameters["transactionId"] == "my_transactionId"
    assert "readTime" not in saved.parameters  # only WhatsApp DLR names read time and status

    listed = await api.get("/dashboard/webhooks")
    assert webhook_id[:8] in listed.text
    assert "https://example.com/dlr" in listed.text

    edited = await api.post(
        f"/dashboard/webhooks/{webhook_id}/edit",
        data=webhook_form(
            token,
            method="XML",
            customHeadersOn="on",
            **{"customHeaders.name": "X-Tenant", "customHeaders.value": "acme"},
        ),
    )
    assert edited.status_code == 303
    saved = await hub.richer_webhooks.get(account.account_id, webhook_id)
    assert saved.method == "XML"
    assert saved.custom_headers == {"X-Tenant": "acme"}

    gone = await api.post(f"/dashboard/webhooks/{webhook_id}/delete", data={"csrf_token": token})
    assert gone.headers["location"] == "/dashboard/webhooks?done=deleted"
    assert await hub.richer_webhooks.list(account.account_id) == []


async def test_service_errors_are_shown_next_to_their_fields_with_values_kept(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    token = await sign_in(api, account.api_key)
    form = webhook_form(
        token,
        product="WHATSAPP",
        url="ftp://nope.example/x",
        customHeadersOn="on",
        **{
            "parameters.messageId": "",
            "parameters.readTime": "",
            "customHeaders.name": "webhook-signature",
            "customHeaders.value": "forged",
        },
    )
    shown = await api.post("/dashboard/webhooks/new", data=form)
    assert shown.status_code == 400
    html = shown.text
    for field_id in ("f-url", "f-parameters-messageId", "f-parameters-readTime"):
        assert f'id="{field_id}-error"' in html, field_id
    assert 'id="f-customHeaders-webhook-signature-error"' in html
    assert 'value="ftp://nope.example/x"' in html
    assert 'value="forged"' in html
    assert '<option value="WHATSAPP" selected>' in html
    assert await hub.richer_webhooks.list(account.account_id) == []


async def test_the_no_script_add_more_adds_a_row(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    token = await sign_in(api, account.api_key)
    form = webhook_form(
        token,
        action="add-customParams",
        customParamsOn="on",
        **{"customParams.name": "a", "customParams.value": "1"},
    )
    shown = await api.post("/dashboard/webhooks/new", data=form)
    assert shown.status_code == 200
    assert len(re.findall(r'name="customParams\.name"', shown.text)) == 2


async def test_test_webhook_reports_an_unreachable_endpoint_without_saving(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    token = await sign_in(api, account.api_key)
    shown = await api.post(
        "/dashboard/webhooks/new",
        data=webhook_form(token, action="test", url="https://127.0.0.1:9/never"),
    )
    assert shown.status_code == 200
    assert 'data-testid="test-result"' in shown.text
    assert 'data-testid="test-error"' in shown.text
    assert await hub.richer_webhooks.list(account.account_id) == []


async def test_another_accounts_webhook_is_not_found(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    theirs, _ = await others_webhook_and_delivery(hub)
    token = await sign_in(api, account.api_key)
    for path in (f"/dashboard/webhooks/{theirs}", f"/dashboard/webhooks/{theirs}/edit"):
        assert (await api.get(path)).status_code == 404, path
    posts = {
        f"/dashboard/webhooks/{theirs}/edit": webhook_form(token, action="test"),
        f"/dashboard/webhooks/{theirs}/delete": {"csrf_token": token},
        f"/dashboard/webhooks/{theirs}/recover": {"csrf_token": token, "since": "2020-01-01"},
    }
    for path, form in posts.items():
        response = await api.post(path, data=form)
        assert response.status_code == 404, path
        assert "Not found" in response.text
    assert theirs not in (await api.get("/dashboard/webhooks")).text
    # Untouched.
    other_id = (await hub.accounts.find("someone-else") or ("", ""))[0]
    still = await hub.richer_webhooks.get(other_id, theirs)
    assert still.url == "https://example.com/theirs"


async def test_another_accounts_delivery_is_not_found(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    _, delivery_id = await others_webhook_and_delivery(hub)
    token = await sign_in(api, account.api_key)
    assert (await api.get(f"/dashboard/deliveries/{delivery_id}")).status_code == 404
    other_id = (await hub.accounts.find("someone-else") or ("", ""))[0]
    before = (await hub.deliveries.list(other_id)).items
    retried = await api.post(
        f"/dashboard/deliveries/{delivery_id}/retry", data={"csrf_token": token}
    )
    assert retried.status_code == 404
    assert "Not found" in retried.text
    # Nothing of theirs was requeued: not due again from now, no other change.
    assert (await hub.deliveries.list(other_id)).items == before
    log = await api.get("/dashboard/deliveries")
    assert delivery_id not in log.text
    assert 'data-testid="health-pending">0<' in log.text


async def test_delivery_log_filters_and_retry(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    await hub.delivery_status.create(account.account_id, "https://example.com/status")
    await hub.messaging.receive_inbound(
        account.account_id,
        source="+393401234567",
        destination="+393409876543",
        channel=Channel.WHATSAPP,
        text="yes",
    )
    delivery = (await hub.deliveries.list(account.account_id)).items[0]
    token = await sign_in(api, account.api_key)

    log = await api.get("/dashboard/deliveries", params={"webhook": "delivery-status"})
    assert f'data-delivery-id="{delivery.id}"' in log.text
    assert 'data-testid="health-pending">1<' in log.text
    none = await api.get("/dashboard/deliveries", params={"status": "dead"})
    assert f'data-delivery-id="{delivery.id}"' not in none.text
    bad = await api.get("/dashboard/deliveries", params={"status": "bogus"})
    assert bad.status_code == 400
    assert 'id="f-status-error"' in bad.text
    bad_time = await api.get("/dashboard/deliveries", params={"since": "yesterday"})
    assert bad_time.status_code == 400

    detail = await api.get(f"/dashboard/deliveries/{delivery.id}")
    assert detail.status_code == 200
    assert "INBOUND" in detail.text
    retried = await api.post(
        f"/dashboard/deliveries/{delivery.id}/retry",
        data={"csrf_token": token, "back": "https://evil.example/"},
    )
    assert retried.headers["location"] == "/dashboard/deliveries?done=retried"
    # It was requeued: due again from the moment of the retry, not from when it was queued.
    [after] = (await hub.deliveries.list(account.account_id)).items
    assert (after.id, after.status) == (delivery.id, "pending")
    assert delivery.next_attempt_at is not None
    assert after.next_attempt_at is not None
    assert after.next_attempt_at > delivery.next_attempt_at


async def test_messages_page_looks_up_and_sends(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    token = await sign_in(api, account.api_key)
    missing = await api.get("/dashboard/messages", params={"customerMessageId": "nope"})
    assert missing.status_code == 404
    refused = await api.post(
        "/dashboard/messages/send",
        data={"csrf_token": token, "channel": "SMS", "destination": "12", "body": "hi"},
    )
    assert refused.status_code == 400
    assert 'id="f-destination-error"' in refused.text
    assert 'value="12"' in refused.text
    sent = await api.post(
        "/dashboard/messages/send",
        data={
            "csrf_token": token,
            "channel": "SMS",
            "destination": "+393401234567",
            "body": "hello",
            "messageId": "dash-1",
        },
    )
    assert sent.headers["location"] == "/dashboard/messages?customerMessageId=dash-1&done=sent"
    found = await api.get(sent.headers["location"])
    assert 'data-testid="status-history"' in found.text
    assert "hello" in found.text
