"""OpenAPI, docs, health and readiness (issue 2, item 12), on both databases."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite.core
import httpx
import pytest

from dlrhub.wiring.app import create_app
from tests.support.contract import POLL_KEYS
from tests.support.inprocess import serving
from tests.support.net import closed_port
from tests.support.stack import make_settings

GW = "/api/partner-gateway/v1"
SEND = "/api/message-server"
PROBLEM_REF = "#/components/schemas/Problem"

# Every endpoint of issue 2: (path, method) -> (request model, success status, response model,
# the 4xx problems it documents at least).
ENDPOINTS: dict[tuple[str, str], tuple[str | None, str, str | None, set[str]]] = {
    **{
        (f"{SEND}/{channel}/send", "post"): (
            "SendMessageRequest",
            "201",
            "SendMessageResponse",
            {"400", "401", "409", "413", "422"},
        )
        for channel in ("sms", "whatsapp", "rcs")
    },
    (f"{GW}/messages/status/{{customerMessageId}}", "get"): (
        None,
        "200",
        "MessageStatusView",
        {"401", "404"},
    ),
    (f"{GW}/messages/status", "get"): (None, "200", "MessageStatusBatch", {"400", "401"}),
    (f"{GW}/simulate/inbound", "post"): (
        "InboundRequest",
        "201",
        "InboundResponse",
        {"400", "401"},
    ),
    (f"{GW}/webhooks/delivery-status", "get"): (
        None,
        "200",
        "DeliveryStatusWebhookView",
        {"401", "404"},
    ),
    (f"{GW}/webhooks/delivery-status", "post"): (
        "DeliveryStatusWebhookRequest",
        "201",
        "DeliveryStatusWebhookView",
        {"400", "401", "409"},
    ),
    (f"{GW}/webhooks/delivery-status", "put"): (
        "DeliveryStatusWebhookRequest",
        "200",
        "DeliveryStatusWebhookView",
        {"400", "401", "404"},
    ),
    (f"{GW}/webhooks/delivery-status", "delete"): (None, "204", None, {"401", "404"}),
    (f"{GW}/account/signing-secret", "get"): (None, "200", "SigningSecretView", {"401"}),
    (f"{GW}/account/signing-secret/rotate", "post"): (
        None,
        "200",
        "SigningSecretView",
        {"401"},
    ),
}


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


@pytest.fixture
async def spec(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def test_every_issue_2_endpoint_is_documented_with_its_models(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "dlrhub"
    assert "X-Api-Key" in spec["info"]["description"]
    schemas = spec["components"]["schemas"]
    for (path, method), (request, success, response, errors) in ENDPOINTS.items():
        operation = spec["paths"][path][method]
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        if request is None:
            assert "requestBody" not in operation, where
        else:
            body = operation["requestBody"]
            assert body["required"] is True, where
            assert body["content"]["application/json"]["schema"]["$ref"] == _ref(request)
            assert schemas[request]["properties"], where
        responses = operation["responses"]
        assert success in responses, where
        if response is None:
            assert not responses[success].get("content"), where  # 204: no body
        else:
            content = responses[success]["content"]["application/json"]
            assert content["schema"]["$ref"] == _ref(response), where
            assert schemas[response]["properties"], where
        assert errors <= set(responses), (where, sorted(responses))


def test_request_and_response_models_describe_the_wire_fields(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    send = schemas["SendMessageRequest"]
    assert set(send["properties"]) == {
        "destination",
        "body",
        "sender",
        "phoneNumberId",
        "messageId",
        "simulation",
        "enableNotification",
        "validityPeriod",  # issue 13: the message's receipt timeout
    }
    assert set(send["required"]) == {"destination", "body"}
    assert set(schemas["SendMessageResponse"]["properties"]) == {
        "messageId",
        "customerMessageId",
        "channel",
        "status",
        "totalParts",
    }
    assert set(schemas["MessageStatusView"]["properties"]) == POLL_KEYS | {"parts"}
    assert set(schemas["MessageStatusBatch"]["properties"]) == {"messages", "notFound"}
    assert {"callbackUrl", "url", "method"} <= set(
        schemas["DeliveryStatusWebhookRequest"]["properties"]
    )
    assert {"callbackUrl", "createdAt", "updatedAt"} <= set(
        schemas["DeliveryStatusWebhookView"]["properties"]
    )
    problem = schemas["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    # The batch poll documents its id list and its alias.
    params = {p["name"] for p in spec["paths"][f"{GW}/messages/status"]["get"]["parameters"]}
    assert {"customerMessageIds", "ids"} <= params
    single = spec["paths"][f"{GW}/messages/status/{{customerMessageId}}"]["get"]
    assert {p["name"] for p in single["parameters"]} >= {"customerMessageId", "channel"}


def test_api_key_security_scheme_on_every_customer_endpoint(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    [(name, scheme)] = [(n, s) for n, s in schemes.items() if s.get("name") == "X-Api-Key"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    customer_paths = [p for p in spec["paths"] if p.startswith((GW, SEND))]
    assert len(customer_paths) >= 8
    for path in customer_paths:
        for method, operation in spec["paths"][path].items():
            assert {name: []} in operation.get("security", []), (method, path)
            assert "401" in operation["responses"], (method, path)


def test_error_responses_are_documented_as_problem_json(spec: dict[str, Any]) -> None:
    """Every documented 4xx of the API is a problem document, as the handlers return them;
    none is FastAPI's default 422 HTTPValidationError (invalid input is a 400 here)."""
    assert "HTTPValidationError" not in str(spec)
    documented = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith("4"):
                    continue
                documented += 1
                where = (method.upper(), path, status)
                assert response.get("description"), where
                content = response["content"]
                assert set(content) == {"application/problem+json"}, where
                assert content["application/problem+json"]["schema"]["$ref"] == PROBLEM_REF
    assert documented >= 30


async def test_docs_page_is_html(api: httpx.AsyncClient) -> None:
    response = await api.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
    assert "swagger" in response.text.lower()


async def test_healthz_and_readyz(api: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = await api.get(path)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok"}


@asynccontextmanager
async def _client_for(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app (without workers) on a database that cannot be reached."""
    app = create_app(make_settings(database_url), run_workers=False)
    async with serving(app) as client:
        yield client


async def test_readyz_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    started_before = set(threading.enumerate())
    unreachable = [
        f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/dlrhub",
        f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/dlrhub.db",
    ]
    for url in unreachable:
        async with _client_for(url) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503, (url, ready.text)
            assert ready.json()["status"] != "ok"
            # The process itself is up.
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json() == {"status": "ok"}
    await _settle_sqlite_threads(started_before)


async def _settle_sqlite_threads(started_before: set[threading.Thread]) -> None:
    """Wait for aiosqlite's worker threads to finish.

    When aiosqlite fails to open a database it queues its thread's stop without awaiting it;
    if this test's event loop closed first, that thread would raise "Event loop is closed" and
    pytest would pin the error on whichever test runs next.
    """
    workers = [
        thread
        for thread in set(threading.enumerate()) - started_before
        if getattr(thread, "_target", None) is aiosqlite.core._connection_worker_thread
    ]
    for thread in workers:
        await asyncio.to_thread(thread.join, 5)
