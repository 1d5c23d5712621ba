"""The richer-webhook resources (SPEC §8): CRUD, every rule as a 400 that says why, and no
500 for anything a client sends."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dlrhub.config import Settings
from dlrhub.domain.urlpolicy import UrlPolicy
from dlrhub.domain.webhook_rules import METHODS, name_problem
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey
from tests.support.assertions import assert_problem
from tests.support.richer_webhooks import (
    DLR_NAMES,
    MO_NAMES,
    NUMBER_A,
    NUMBER_B,
    WA_DLR_NAMES,
    create_webhook,
    webhook_body,
)
from tests.support.stack import make_settings

URL = "https://crm.example.com/dlr?token=abc"
FIELDS = {
    "id",
    "product",
    "url",
    "reportType",
    "method",
    "productUniqueId",
    "parameters",
    "customParams",
    "customHeaders",
    "ordering",
    "createdAt",
    "updatedAt",
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    # Production URL rules: https only, no private targets (nothing is sent in this module).
    return make_settings(db_url, dev=False)


def is_timestamp(value: str) -> bool:
    return len(value) == 20 and value.endswith("Z") and value[10] == "T"


async def test_create_get_list_update_delete(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    await hub.accounts.add_waba_number(account.account_id, NUMBER_A)
    await hub.accounts.add_waba_number(account.account_id, NUMBER_B)
    body = webhook_body(
        "WHATSAPP",
        "DLR",
        "XML",
        URL,
        waba_number=NUMBER_A,
        custom_params={"source": "dlrhub"},
        custom_headers={"X-Tenant": "acme"},
    )
    created = await create_webhook(api, account, body)
    # The §8 fields, plus the health fields of issue 3 (null while the webhook is healthy).
    assert set(created) == FIELDS | {"disabledAt", "disabledReason"}
    assert created["disabledAt"] is None
    assert created["disabledReason"] is None
    assert created["product"] == "WHATSAPP"
    assert created["reportType"] == "DLR"
    assert created["method"] == "XML"
    assert created["url"] == URL
    assert created["productUniqueId"] == NUMBER_A
    assert created["parameters"] == WA_DLR_NAMES
    assert created["customParams"] == {"source": "dlrhub"}
    assert created["customHeaders"] == {"X-Tenant": "acme"}
    assert created["ordering"] == "message"
    assert is_timestamp(created["createdAt"])
    assert is_timestamp(created["updatedAt"])
    path = f"{API}/webhooks/{created['id']}"

    assert (await api.get(path, headers=account.headers)).json() == created
    second = await create_webhook(api, account, webhook_body("SMS", "DLR", "GET", URL))
    listed = (await api.get(f"{API}/webhooks", headers=account.headers)).json()
    assert listed == {"items": [created, second]}

    # PUT replaces the whole configuration; productUniqueId is accepted as wabaNumber's alias.
    replacement = webhook_body("WHATSAPP", "MO", "JSON", URL + "&v=2")
    replacement["productUniqueId"] = NUMBER_B
    replacement["ordering"] = "none"
    updated = await api.put(path, json=replacement, headers=account.headers)
    assert updated.status_code == 200, updated.text
    assert updated.json() | {"updatedAt": ""} == {
        **created,
        "reportType": "MO",
        "method": "JSON",
        "url": URL + "&v=2",
        "productUniqueId": NUMBER_B,
        "parameters": MO_NAMES,
        "customParams": {},
        "customHeaders": {},
        "ordering": "none",
        "updatedAt": "",
    }

    deleted = await api.delete(path, headers=account.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(await api.get(path, headers=account.headers), 404)
    assert_problem(await api.delete(path, headers=account.headers), 404)
    listed = (await api.get(f"{API}/webhooks", headers=account.headers)).json()
    assert listed == {"items": [second]}


async def test_the_delivery_status_webhook_is_not_shadowed(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    path = f"{API}/webhooks/delivery-status"
    missing = await api.get(path, headers=account.headers)
    assert "delivery-status" in assert_problem(missing, 404)["detail"]
    created = await api.post(path, json={"callbackUrl": URL}, headers=account.headers)
    assert created.status_code == 201
    assert {"callbackUrl", "createdAt", "updatedAt"} <= set(created.json())
    assert (await api.put(path, json={"callbackUrl": URL}, headers=account.headers)).json()[
        "callbackUrl"
    ] == URL
    # It is not a richer webhook: not listed, not testable as one.
    assert (await api.get(f"{API}/webhooks", headers=account.headers)).json() == {"items": []}
    assert (await api.delete(path, headers=account.headers)).status_code == 204


async def test_another_accounts_webhook_is_not_found(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    other = await hub.accounts.create("someone-else")
    theirs = await create_webhook(
        api, AccountKey(other.account_id, other.api_key), webhook_body("SMS", "DLR", "GET", URL)
    )
    path = f"{API}/webhooks/{theirs['id']}"
    body = webhook_body("SMS", "DLR", "POST", URL)
    for response in (
        await api.get(path, headers=account.headers),
        await api.put(path, json=body, headers=account.headers),
        await api.delete(path, headers=account.headers),
        await api.post(f"{path}/test", headers=account.headers),
        await api.post(
            f"{path}/recover", json={"since": "2026-01-01T00:00:00Z"}, headers=account.headers
        ),
    ):
        assert_problem(response, 404)
    assert (await api.get(f"{API}/webhooks", headers=account.headers)).json() == {"items": []}
    assert_problem(await api.get(f"{API}/webhooks"), 401)
    # Nothing of theirs changed: the refused PUT and DELETE did nothing.
    owner = {"X-Api-Key": other.api_key}
    assert (await api.get(path, headers=owner)).json() == theirs


def with_(**changes: Any) -> dict[str, Any]:
    return {**webhook_body("SMS", "DLR", "GET", URL), **changes}


def error_code(name: str, method: str = "GET") -> dict[str, Any]:
    return with_(method=method, parameters={**DLR_NAMES, "errorCode": name})


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (with_(reportType="MO", parameters=MO_NAMES), "reportType", "not available for SMS"),
        (with_(wabaNumber=NUMBER_A), "wabaNumber", "only for WHATSAPP"),
        (
            {**webhook_body("WHATSAPP", "DLR", "GET", URL), "wabaNumber": NUMBER_B},
            "wabaNumber",
            "not one of this account's",
        ),
        (
            {**webhook_body("WHATSAPP", "DLR", "GET", URL), "parameters": DLR_NAMES},
            "parameters.readTime",
            "required",
        ),
        (error_code("ref"), "parameters.errorCode", "already used"),
        (error_code("2x", method="XML"), "parameters.errorCode", "XML"),
        (with_(customHeaders={"webhook-id": "x"}), "customHeaders.webhook-id", "cannot be"),
        (with_(ordering="fifo"), "ordering", "must be one of message, none"),
        (with_(customHeaders={"X-A": "1\r\nX-B: 2"}), "customHeaders.X-A", "line breaks"),
        (with_(url="http://crm.example.com/dlr"), "url", "https"),
        (with_(url="https://10.0.0.1/dlr"), "url", "private"),
        (with_(url=""), "url", "URL"),
        (with_(product="FAX"), "product", "SMS, WHATSAPP, RCS"),
        (with_(method="PATCH"), "method", "GET, POST, JSON, XML"),
        (with_(wabaNumber=NUMBER_A, productUniqueId=NUMBER_B), "productUniqueId", "differs"),
        ({k: v for k, v in with_().items() if k != "product"}, "product", "required"),
        (with_(parameters=["ref"]), "parameters", "dictionary"),
        (with_(customParams={"k": 1}), "customParams.k", "string"),
        (with_(url=123), "url", "string"),
    ],
)
async def test_refused_with_a_400_that_says_why(
    api: httpx.AsyncClient,
    hub: Hub,
    account: AccountKey,
    body: dict[str, Any],
    field: str,
    says: str,
) -> None:
    await hub.accounts.add_waba_number(account.account_id, NUMBER_A)
    other = await hub.accounts.create("owner-of-b")
    await hub.accounts.add_waba_number(other.account_id, NUMBER_B)
    for response in (
        await api.post(f"{API}/webhooks", json=body, headers=account.headers),
        await api.put(
            f"{API}/webhooks/{(await create_webhook(api, account, with_()))['id']}",
            json=body,
            headers=account.headers,
        ),
    ):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        messages = {e["field"]: e["message"] for e in problem["errors"]}
        assert field in messages, messages
        assert says in messages[field]
        assert field in problem["detail"]


async def test_malformed_and_oversized_bodies(api: httpx.AsyncClient, account: AccountKey) -> None:
    headers = {**account.headers, "Content-Type": "application/json"}
    malformed = await api.post(f"{API}/webhooks", content=b"{not json", headers=headers)
    assert assert_problem(malformed, 400)["errors"][0]["field"] == "body"
    huge = with_(customParams={f"k{i}": "v" * 1000 for i in range(100)})
    too_big = await api.post(f"{API}/webhooks", json=huge, headers=account.headers)
    assert_problem(too_big, 413)
    assert (await api.get(f"{API}/webhooks", headers=account.headers)).json() == {"items": []}


# ---------------------------------------------------------------- properties, through the API

_examples = hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# NUL and lone surrogates never reach these rules: the request is refused before (or cannot
# even be encoded as JSON text by the client; test_hostile_properties.py covers both).
_NO_NUL = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12)


@_examples
@given(method=st.sampled_from(METHODS), name=_NO_NUL, value=_NO_NUL)
async def test_names_the_api_refuses_are_refused_with_the_reason(
    api: httpx.AsyncClient, account: AccountKey, method: str, name: str, value: str
) -> None:
    body = with_(
        method=method, parameters={**DLR_NAMES, "errorCode": name}, customParams={"extra": value}
    )
    response = await api.post(f"{API}/webhooks", json=body, headers=account.headers)
    problem = name_problem(name, method)
    if problem is None and name not in DLR_NAMES.values() and name != "extra":
        if response.status_code == 201:
            saved = response.json()
            assert saved["parameters"]["errorCode"] == name
            assert saved["customParams"] == {"extra": value}
            return
        # Only the custom value can have been refused, and it says so.
        problem_body = assert_problem(response, 400)
        assert [e["field"] for e in problem_body["errors"]] == ["customParams.extra"]
        return
    messages = {e["field"]: e["message"] for e in assert_problem(response, 400)["errors"]}
    if problem is not None:
        assert messages["parameters.errorCode"] == problem
    else:
        assert "already used" in json.dumps(messages)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@_examples
@given(
    field=st.sampled_from(
        [
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
    ),
    value=_json,
)
async def test_no_500_for_any_body(
    api: httpx.AsyncClient, account: AccountKey, field: str, value: Any
) -> None:
    response = await api.post(
        f"{API}/webhooks", json=with_(**{field: value}), headers=account.headers
    )
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        assert response.json()["errors"]


def test_policy_is_strict_here(settings: Settings) -> None:
    assert settings.url_policy == UrlPolicy()


async def test_openapi_documents_every_route_and_its_errors(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    expected = {
        ("/webhooks", "get"): {"401"},
        ("/webhooks", "post"): {"400", "401"},
        ("/webhooks/{webhookId}", "get"): {"401", "404"},
        ("/webhooks/{webhookId}", "put"): {"400", "401", "404"},
        ("/webhooks/{webhookId}", "delete"): {"401", "404"},
        ("/webhooks/{webhookId}/test", "post"): {"401", "404"},
        ("/webhooks/{webhookId}/recover", "post"): {"400", "401", "404"},
        ("/deliveries", "get"): {"400", "401"},
        ("/deliveries/{deliveryId}", "get"): {"401", "404"},
        ("/deliveries/{deliveryId}/retry", "post"): {"401", "404", "409"},
    }
    for (path, method), errors in expected.items():
        operation = spec["paths"][API + path][method]
        assert operation["summary"]
        assert errors <= set(operation["responses"]), (path, method)
        for status in errors:
            assert "application/problem+json" in operation["responses"][status]["content"]
    # The delivery-status routes are still there, beside the richer ones.
    assert "get" in spec["paths"][API + "/webhooks/delivery-status"]
