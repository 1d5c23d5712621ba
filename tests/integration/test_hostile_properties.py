"""No request anyone can send yields a 500 (SPEC §1, issue 8 finding 4), on both databases.

Hypothesis draws text from every code point, lone surrogates and NUL included, for every
string field of every endpoint: JSON values and object keys, path ids, query parameters,
headers, dashboard form fields. Text that cannot be stored must be refused (`400` naming the
field, `404` in a path); anything else must be 2xx, or 4xx with a problem body.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey
from tests.support.assertions import PROBLEM_JSON, assert_problem
from tests.support.carrier import CARRIER, WABA_NUMBER, sent_message
from tests.support.dashboard import sign_in
from tests.support.richer_webhooks import DLR_NAMES

Client = tuple[httpx.AsyncClient, Hub]

EXAMPLES = hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANY_CHAR = st.characters(codec=None, exclude_categories=())
TEXT = st.one_of(
    st.sampled_from(["\ud800", "\x00", "a\udfffb", "\ud83d\ude00", "+393401234567\x00", "é"]),
    st.text(ANY_CHAR, max_size=16),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def unstorable(text: str) -> bool:
    """The test's own statement of the rule: NUL, or any surrogate code point."""
    return "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text)


def holds_unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, list):
        return any(holds_unstorable(v) for v in value)
    if isinstance(value, dict):
        return any(unstorable(k) or holds_unstorable(v) for k, v in value.items())
    return False


def encoded(text: str) -> str:
    """Percent-encoded as a client could: a lone surrogate becomes `%ED%A0%80`."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def shown(text: str) -> str:
    """How a refused name is quoted back: its bytes decoded with U+FFFD for what is not UTF-8."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def never_500(response: httpx.Response, *, problem: bool = True) -> None:
    assert response.status_code < 500, response.text
    assert not 300 <= response.status_code < 400 or "location" in response.headers
    if problem and response.status_code >= 400:
        assert_problem(response, response.status_code)


def refused(response: httpx.Response, status: int, fields: set[str] | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    if fields is not None:
        named = {e["field"] for e in response.json()["errors"]}
        assert fields <= named, (fields, named)


@pytest.fixture
async def csrf_token(carrier_api: Client, key: AccountKey) -> str:
    """A signed-in dashboard session (kept by the client's cookies) and its CSRF token."""
    return await sign_in(carrier_api[0], key.api_key)


@pytest.fixture
async def world(carrier_api: Client, key: AccountKey) -> dict[str, str]:
    """Something for each kind of request to find: a business number, both kinds of webhook,
    a message."""
    client, hub = carrier_api
    await hub.accounts.add_waba_number(key.account_id, WABA_NUMBER)
    ds = await client.post(
        f"{API}/webhooks/delivery-status",
        json={"callbackUrl": "https://example.com/hook"},
        headers=key.headers,
    )
    assert ds.status_code == 201, ds.text
    richer = await client.post(f"{API}/webhooks", json=RICHER, headers=key.headers)
    assert richer.status_code == 201, richer.text
    return {"webhook": richer.json()["id"], "message": await sent_message(client, key)}


# ---------------------------------------------------------------- JSON bodies

SEND_BASE = {"destination": "+393401234567", "body": "hi", "simulation": True}
SEND_FIELDS = ["destination", "body", "sender", "phoneNumberId", "messageId"]
REPLY = {"source": "+393401234567", "destination": WABA_NUMBER, "channel": "SMS", "text": "hi"}
REPLY_FIELDS = ["source", "destination", "channel", "text"]
URL_FIELDS = ["callbackUrl", "url", "method"]
RICHER = {
    "product": "SMS",
    "reportType": "DLR",
    "method": "JSON",
    "url": "https://crm.example.com/dlr",
    "parameters": DLR_NAMES,
}
RICHER_FIELDS = [
    "product",
    "reportType",
    "method",
    "url",
    "wabaNumber",
    "productUniqueId",
    "parameters",
    "customParams",
    "customHeaders",
]
MAPS = {"parameters", "customParams", "customHeaders"}
# (name, method, path, base body, string fields, carrier auth?)
BODIES: list[tuple[str, str, str, dict[str, Any], list[str], bool]] = [
    ("send-sms", "POST", "/api/message-server/sms/send", SEND_BASE, SEND_FIELDS, False),
    (
        "send-whatsapp",
        "POST",
        "/api/message-server/whatsapp/send",
        {**SEND_BASE, "phoneNumberId": WABA_NUMBER},
        SEND_FIELDS,
        False,
    ),
    ("send-rcs", "POST", "/api/message-server/rcs/send", SEND_BASE, SEND_FIELDS, False),
    ("simulate-inbound", "POST", f"{API}/simulate/inbound", REPLY, REPLY_FIELDS, False),
    (
        "delivery-status-post",
        "POST",
        f"{API}/webhooks/delivery-status",
        {"callbackUrl": "https://example.com/other"},
        URL_FIELDS,
        False,
    ),
    (
        "delivery-status-put",
        "PUT",
        f"{API}/webhooks/delivery-status",
        {"callbackUrl": "https://example.com/other"},
        URL_FIELDS,
        False,
    ),
    ("webhook-create", "POST", f"{API}/webhooks", RICHER, RICHER_FIELDS, False),
    ("webhook-update", "PUT", f"{API}/webhooks/{{webhook}}", RICHER, RICHER_FIELDS, False),
    (
        "recover",
        "POST",
        f"{API}/webhooks/{{webhook}}/recover",
        {"since": "2026-01-01T00:00:00Z"},
        ["since"],
        False,
    ),
    (
        "carrier-dlr",
        "POST",
        "/carrier/v1/dlr",
        {"messageId": "{message}", "status": "DELIVERED"},
        ["messageId", "status", "receipt", "error"],
        True,
    ),
    ("carrier-inbound", "POST", "/carrier/v1/inbound", REPLY, REPLY_FIELDS, True),
]


@pytest.mark.parametrize("target", BODIES, ids=[b[0] for b in BODIES])
@EXAMPLES
@given(data=st.data())
async def test_no_json_body_gets_a_500(
    carrier_api: Client,
    key: AccountKey,
    world: dict[str, str],
    target: tuple[str, str, str, dict[str, Any], list[str], bool],
    data: st.DataObject,
) -> None:
    client, _ = carrier_api
    _, method, path, base, fields, carrier = target
    field = data.draw(st.sampled_from(fields), label="field")
    if field in MAPS:
        value = data.draw(st.dictionaries(TEXT, TEXT, max_size=3) | JSON_VALUE, label="value")
    else:
        value = data.draw(TEXT | JSON_VALUE, label="value")
    body: Any = {k: v.format(**world) if isinstance(v, str) else v for k, v in base.items()}
    body[field] = value
    whole = data.draw(st.booleans(), label="whole body drawn instead")
    if whole:
        body = data.draw(JSON_VALUE, label="body")
    # json.dumps escapes a lone surrogate as \ud800: raw bytes any client can send.
    response = await client.request(
        method,
        path.format(**world),
        content=json.dumps(body).encode(),
        headers={**(CARRIER if carrier else key.headers), "Content-Type": "application/json"},
    )
    # What the server reads: a JSON decoder joins an escaped surrogate pair into one character.
    if holds_unstorable(json.loads(json.dumps(body))):
        refused(response, 400)
        named = {e["field"] for e in response.json()["errors"]}
        if not whole:
            assert all(n == field or n.startswith(f"{field}.") for n in named), named
    else:
        never_500(response)


# ---------------------------------------------------------------- path ids

PATHS = [
    ("GET", "messages/status/{id}"),
    ("GET", "deliveries/{id}"),
    ("POST", "deliveries/{id}/retry"),
    ("GET", "webhooks/{id}"),
    ("PUT", "webhooks/{id}"),
    ("DELETE", "webhooks/{id}"),
    ("POST", "webhooks/{id}/test"),
    ("POST", "webhooks/{id}/recover"),
    ("POST", "webhooks/{id}/enable"),
]


@pytest.mark.parametrize(("method", "path"), PATHS, ids=[f"{m}-{p}" for m, p in PATHS])
@EXAMPLES
@given(ident=TEXT.filter(lambda t: t.strip("./")))
async def test_no_path_id_gets_a_500(
    carrier_api: Client, key: AccountKey, method: str, path: str, ident: str
) -> None:
    client, _ = carrier_api
    if method == "POST" and path.endswith("/test") and not unstorable(ident):
        ident = f"x{ident}"  # never the delivery-status webhook: no request leaves the test
    body = {"since": "2026-01-01T00:00:00Z"} if path.endswith("recover") else RICHER
    url = f"{API}/{path.format(id=encoded(ident))}"
    response = await client.request(method, url, json=body, headers=key.headers)
    if unstorable(ident):
        refused(response, 404)
    else:
        never_500(response)


# ---------------------------------------------------------------- query parameters

QUERIES = [
    ("messages/status", ["customerMessageIds", "ids"]),
    ("messages/status/order-1", ["channel"]),
    ("deliveries", ["status", "webhookId", "since", "cursor", "limit"]),
    ("account/signing-secret", []),
    ("whatsapp/numbers", []),
    ("webhooks", []),
    ("webhooks/delivery-status", []),
]


@pytest.mark.parametrize(("path", "names"), QUERIES, ids=[q[0] for q in QUERIES])
@EXAMPLES
@given(data=st.data())
async def test_no_query_gets_a_500(
    carrier_api: Client, key: AccountKey, path: str, names: list[str], data: st.DataObject
) -> None:
    client, _ = carrier_api
    name = st.sampled_from(names) | TEXT if names else TEXT
    params = data.draw(st.dictionaries(name, TEXT, min_size=1, max_size=3), label="params")
    query = "&".join(f"{encoded(n)}={encoded(v)}" for n, v in params.items())
    response = await client.get(f"{API}/{path}?{query}", headers=key.headers)
    # A parameter without a name is called "query".
    bad = {shown(n) or "query" for n, v in params.items() if unstorable(n) or unstorable(v)}
    if bad:
        refused(response, 400, bad)
    else:
        never_500(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "account/signing-secret"),
        ("POST", "account/signing-secret/rotate"),
        ("GET", "whatsapp/numbers"),
        ("GET", "deliveries"),
    ],
)
@EXAMPLES
@given(api_key=st.binary(max_size=40))
async def test_no_api_key_gets_a_500(
    carrier_api: Client, method: str, path: str, api_key: bytes
) -> None:
    client, _ = carrier_api
    response = await client.request(method, f"{API}/{path}", headers=[(b"x-api-key", api_key)])
    refused(response, 401)


# ---------------------------------------------------------------- dashboard forms

FORMS: list[tuple[str, dict[str, str]]] = [
    ("/dashboard/login", {"apiKey": "dlr_x", "next": "/dashboard/webhooks"}),
    (
        "/dashboard/webhooks/new",
        {
            "product": "SMS",
            "method": "POST",
            "reportType": "DLR",
            "url": "https://example.com/dlr",
            **{f"parameters.{n}": f"my_{n}" for n in DLR_NAMES},
            "customParamsOn": "on",
            "customParams.name": "k",
            "customParams.value": "v",
            "customHeadersOn": "on",
            "customHeaders.name": "X-K",
            "customHeaders.value": "v",
            "action": "save",
        },
    ),
    ("/dashboard/webhooks/delivery-status/edit", {"callbackUrl": "https://example.com/d"}),
    (
        "/dashboard/messages/send",
        {
            "channel": "SMS",
            "destination": "+393401234567",
            "body": "hi",
            "messageId": "",
            "sender": "",
            "phoneNumberId": "",
        },
    ),
    ("/dashboard/deliveries", {"status": "", "webhook": "", "since": "", "cursor": ""}),
    ("/dashboard/messages", {"customerMessageId": "x"}),
]


@pytest.mark.parametrize(("path", "form"), FORMS, ids=[f[0] for f in FORMS])
@EXAMPLES
@given(data=st.data())
async def test_no_dashboard_form_gets_a_500(
    carrier_api: Client, csrf_token: str, path: str, form: dict[str, str], data: st.DataObject
) -> None:
    client, _ = carrier_api
    field = data.draw(st.sampled_from(sorted(form)), label="field")
    value = data.draw(TEXT, label="value")
    values = {"csrf_token": csrf_token, **form, field: value}
    query = "&".join(f"{encoded(n)}={encoded(v)}" for n, v in values.items())
    if path in ("/dashboard/deliveries", "/dashboard/messages"):
        response = await client.get(f"{path}?{query}")
    else:
        response = await client.post(
            path,
            content=query.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    if unstorable(value):
        refused(response, 400, {field})
    else:  # the dashboard answers refusals with pages, not problem documents
        never_500(response, problem=False)
