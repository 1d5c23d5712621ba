"""Text that cannot be stored is refused everywhere, naming the field (SPEC §1), and WhatsApp
sends only from the account's own numbers (§2); on both databases (issue 8, findings 4, 7).

A lone surrogate is sent as JSON's `\\ud800` escape (json.dumps escapes it), or percent-encoded
as its UTF-8-like bytes `%ED%A0%80`; NUL as `\\u0000` or `%00`.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx

from dlrhub.domain.status import MessageStatus
from dlrhub.store import messages
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey
from tests.support.assertions import assert_problem, error_fields
from tests.support.carrier import CARRIER, WABA_NUMBER, sent_message
from tests.support.dashboard import sign_in
from tests.support.richer_webhooks import DLR_NAMES

Client = tuple[httpx.AsyncClient, Hub]
BAD = {"surrogate": "\ud800", "nul": "\x00"}
ENCODED = {"surrogate": "%ED%A0%80", "nul": "%00"}
JSON = {"Content-Type": "application/json"}
SEND = "/api/message-server/{channel}/send"
INBOUND = f"{API}/simulate/inbound"
DS = f"{API}/webhooks/delivery-status"
REPLY = {
    "source": "+393401234567",
    "destination": WABA_NUMBER,
    "channel": "WHATSAPP",
    "text": "Yes",
}
RICHER: dict[str, Any] = {
    "product": "SMS",
    "reportType": "DLR",
    "method": "JSON",
    "url": "https://crm.example.com/dlr",
    "parameters": DLR_NAMES,
}


async def post_raw(
    client: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str], method: str = "POST"
) -> httpx.Response:
    """`body` as JSON bytes: json.dumps writes a lone surrogate as the `\\ud800` escape, which
    httpx's own JSON encoder (UTF-8, strict) could not send."""
    content = json.dumps(body).encode()
    return await client.request(method, path, content=content, headers={**headers, **JSON})


def refused(response: httpx.Response, field: str, status: int = 400) -> None:
    problem = assert_problem(response, status)
    if status == 400:
        assert error_fields(problem) == {field}, problem


# Each test walks its whole table (both databases each): one test per case would spend
# minutes creating databases.


# ---------------------------------------------------------------- JSON bodies


SEND_FIELDS = [
    ("sms", "body"),
    ("whatsapp", "body"),
    ("rcs", "body"),
    ("sms", "destination"),
    ("sms", "sender"),
    ("rcs", "messageId"),
    ("whatsapp", "phoneNumberId"),
]


async def test_send(carrier_api: Client, key: AccountKey) -> None:
    client, hub = carrier_api
    await hub.accounts.add_waba_number(key.account_id, WABA_NUMBER)
    for (channel, field), bad in itertools.product(SEND_FIELDS, BAD.values()):
        body = {"destination": "+393401234567", "body": "hi", "simulation": True}
        if channel == "whatsapp":
            body["phoneNumberId"] = WABA_NUMBER
        body[field] = f"a{bad}"
        response = await post_raw(client, SEND.format(channel=channel), body, key.headers)
        refused(response, field)


async def test_simulated_and_carrier_inbound(carrier_api: Client, key: AccountKey) -> None:
    client, hub = carrier_api
    await hub.accounts.add_waba_number(key.account_id, WABA_NUMBER)
    for field, bad in itertools.product(["source", "destination", "text"], BAD.values()):
        body = {**REPLY, field: f"a{bad}"}
        refused(await post_raw(client, INBOUND, body, key.headers), field)
        refused(await post_raw(client, "/carrier/v1/inbound", body, CARRIER), field)
    assert (await hub.deliveries.list(key.account_id)).items == []  # and no event either


REPORTS = [
    ({"messageId": "{bad}", "status": "DELIVERED"}, "messageId"),
    ({"messageId": "{id}", "status": "DELIVERED{bad}"}, "status"),
    ({"messageId": "{id}", "status": "ERROR", "error": "boom{bad}"}, "error"),
    ({"messageId": "{id}", "receipt": "id:1 stat:DELIVRD err:000 text:{bad}"}, "receipt"),
]


async def test_carrier_dlr(carrier_api: Client, key: AccountKey) -> None:
    client, hub = carrier_api
    message_id = await sent_message(client, key)
    for (report, field), bad in itertools.product(REPORTS, BAD.values()):
        body = {k: v.replace("{bad}", bad).replace("{id}", message_id) for k, v in report.items()}
        refused(await post_raw(client, "/carrier/v1/dlr", body, CARRIER), field)
    async with hub.db.reading() as conn:
        stored = await messages.by_ids(conn, [message_id])
    assert stored[message_id].status is MessageStatus.SENT  # nothing of it was applied


async def test_delivery_status_callback(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    for method in ("POST", "PUT"):
        if method == "PUT":
            first = {"callbackUrl": "https://example.com/x"}
            assert (await client.post(DS, json=first, headers=key.headers)).status_code == 201
        for field, bad in itertools.product(["callbackUrl", "url", "method"], BAD.values()):
            body = {"callbackUrl": "https://example.com/hook", field: f"https://example.com/{bad}"}
            if field == "method":
                body[field] = f"POST{bad}"
            refused(await post_raw(client, DS, body, key.headers, method), field)
        kept = (await client.get(DS, headers=key.headers)).json().get("callbackUrl")
        assert kept == ("https://example.com/x" if method == "PUT" else None)


SECTIONS = [
    ("parameters", False),
    ("customParams", False),
    ("customParams", True),
    ("customHeaders", False),
    ("customHeaders", True),
]


async def test_richer_webhook_names_and_values(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    for (section, as_key), bad in itertools.product(SECTIONS, BAD.values()):
        name, value = (f"X-a{bad}", "v") if as_key else ("errorCode", f"a{bad}")
        body: dict[str, Any] = {**RICHER, section: {**RICHER.get(section, {}), name: value}}
        response = await post_raw(client, f"{API}/webhooks", body, key.headers)
        # The problem quotes the name, a lone surrogate shown as U+FFFD: still UTF-8.
        shown = name.replace(BAD["surrogate"], "\ufffd")
        refused(response, f"{section}.{shown}")
        assert ("name" in response.json()["errors"][0]["message"]) is as_key
    assert (await client.get(f"{API}/webhooks", headers=key.headers)).json()["items"] == []


async def test_a_whole_body_that_is_a_bad_string(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    refused(await post_raw(client, INBOUND, "\ud800", key.headers), "body")


async def test_valid_escapes_and_non_ascii_text_are_still_accepted(
    carrier_api: Client, key: AccountKey
) -> None:
    """The guard refuses only what cannot be stored: an escaped emoji (a surrogate *pair*),
    `\\u00e9`, Hangul (whose UTF-8 starts with the byte ED) all go through."""
    client, _ = carrier_api
    body = {"destination": "+393401234567", "body": "ok 👍 é 한국", "simulation": True}
    response = await post_raw(client, SEND.format(channel="rcs"), body, key.headers)
    assert response.status_code == 201, response.text
    raw = json.dumps(body, ensure_ascii=False).encode()
    again = await client.post(
        SEND.format(channel="rcs"), content=raw, headers={**key.headers, **JSON}
    )
    assert again.status_code == 201, again.text


# ---------------------------------------------------------------- query strings and paths

QUERIES = [
    ("messages/status?ids=a{bad}", "ids"),
    ("messages/status?customerMessageIds=ok,a{bad}", "customerMessageIds"),
    ("messages/status/order-1?channel=SMS{bad}", "channel"),
    ("deliveries?status=dead{bad}", "status"),
    ("deliveries?webhookId=a{bad}", "webhookId"),
    ("deliveries?since=2026-01-01{bad}", "since"),
    ("deliveries?cursor=a{bad}", "cursor"),
    ("account/signing-secret?x=a{bad}", "x"),
    ("whatsapp/numbers?a{bad}=1", "a{shown}"),  # a bad name, named as well as it can be
]
SHOWN = {"%00": "\x00", "%ED%A0%80": "\ufffd" * 3}


async def test_query_parameters(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    for (query, field), bad in itertools.product(QUERIES, ENCODED.values()):
        response = await client.get(f"{API}/{query.replace('{bad}', bad)}", headers=key.headers)
        refused(response, field.replace("{shown}", SHOWN[bad]))


PATHS = [
    ("GET", "messages/status/a{bad}"),
    ("GET", "deliveries/a{bad}"),
    ("POST", "deliveries/a{bad}/retry"),
    ("GET", "webhooks/a{bad}"),
    ("PUT", "webhooks/a{bad}"),
    ("DELETE", "webhooks/a{bad}"),
    ("POST", "webhooks/a{bad}/test"),
    ("POST", "webhooks/a{bad}/recover"),
    ("POST", "webhooks/a{bad}/enable"),
]


async def test_path_ids_that_cannot_exist_are_404(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    for (method, path), bad in itertools.product(PATHS, ENCODED.values()):
        body = {"since": "2026-01-01T00:00:00Z"} if path.endswith("recover") else RICHER
        url = f"{API}/{path.replace('{bad}', bad)}"
        response = await client.request(method, url, json=body, headers=key.headers)
        assert_problem(response, 404)


CURSORS = [
    base64.urlsafe_b64encode(b"[" * 3000).decode(),  # the finding: RecursionError, 500
    base64.urlsafe_b64encode(b"[" * 900 + b"]" * 900).decode(),
    "[" * 3000,
    base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "a\\u0000"]').decode(),
    base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "a\\ud800"]').decode(),
]


async def test_cursors_that_cannot_be_decoded(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    for cursor in CURSORS:
        params = {"cursor": cursor}
        refused(await client.get(f"{API}/deliveries", params=params, headers=key.headers), "cursor")


# ---------------------------------------------------------------- dashboard forms

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def form_with(form: dict[str, str], field: str, bad: str) -> bytes:
    """`form` urlencoded, with `bad` (already percent-encoded) appended to `field`'s value."""
    encoded = urlencode(form)
    mark = f"{quote_plus(field)}={quote_plus(form[field])}"
    assert encoded.count(mark) == 1
    return encoded.replace(mark, mark + bad).encode()


async def test_dashboard_sign_in_key(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    page = await client.get("/dashboard/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    for bad in ENCODED.values():
        content = form_with({"csrf_token": token, "apiKey": key.api_key}, "apiKey", bad)
        refused(await client.post("/dashboard/login", content=content, headers=FORM), "apiKey")


async def test_dashboard_webhook_form(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    form = {
        "csrf_token": await sign_in(client, key.api_key),
        "product": "SMS",
        "method": "POST",
        "reportType": "DLR",
        "url": "https://example.com/dlr",
        **{f"parameters.{n}": f"my_{n}" for n in DLR_NAMES},
        "customParamsOn": "on",
        "customParams.name": "k",
        "customParams.value": "v",
        "action": "save",
    }
    fields = ["url", "parameters.errorCode", "customParams.name", "customParams.value"]
    for field, bad in itertools.product(fields, ENCODED.values()):
        content = form_with(form, field, bad)
        response = await client.post("/dashboard/webhooks/new", content=content, headers=FORM)
        refused(response, field)
    assert (await client.get(f"{API}/webhooks", headers=key.headers)).json()["items"] == []


async def test_dashboard_message_look_up_and_send(carrier_api: Client, key: AccountKey) -> None:
    client, _ = carrier_api
    token = await sign_in(client, key.api_key)
    for bad in ENCODED.values():
        response = await client.get(f"/dashboard/messages?customerMessageId=a{bad}")
        refused(response, "customerMessageId")
    response = await client.post(  # multipart, as a script could send it
        "/dashboard/messages/send",
        files={"body": (None, b"a\x00")},
        data={"csrf_token": token, "channel": "SMS", "destination": "+393401234567"},
    )
    refused(response, "body")


# ---------------------------------------------------------------- WhatsApp sender numbers


async def test_whatsapp_sends_only_from_the_accounts_own_numbers(
    carrier_api: Client, key: AccountKey
) -> None:
    client, hub = carrier_api
    other = await hub.accounts.create("the-number-owner")
    await hub.accounts.add_waba_number(other.account_id, WABA_NUMBER)
    await hub.accounts.add_waba_number(key.account_id, "+393409876500")
    body = {"destination": "+393401234567", "body": "hi", "simulation": True}
    url = SEND.format(channel="whatsapp")
    for number in (WABA_NUMBER, "+393409870000"):  # another account's; nobody's
        response = await client.post(
            url, json={**body, "phoneNumberId": number}, headers=key.headers
        )
        refused(response, "phoneNumberId")
    own = await client.post(
        url, json={**body, "phoneNumberId": "+393409876500"}, headers=key.headers
    )
    assert own.status_code == 201, own.text
    theirs = await client.post(
        url, json={**body, "phoneNumberId": WABA_NUMBER}, headers={"X-Api-Key": other.api_key}
    )
    assert theirs.status_code == 201, theirs.text
