"""Carrier DLR and inbound ingest (SPEC §11), on both databases."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Table, func, select

from dlrhub.store.schema import deliveries, events
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.assertions import assert_problem
from tests.support.carrier import CARRIER, sent_message


async def _count(hub: Hub, table: Table) -> int:
    async with hub.db.reading() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_receipt_moves_status_once(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    client, hub = carrier_api
    await client.post(
        "/api/partner-gateway/v1/webhooks/delivery-status",
        json={"callbackUrl": "https://127.0.0.1:9/hook"},
        headers=key.headers,
    )
    message_id = await sent_message(client, key)
    receipt = f"id:{message_id} sub:001 dlvrd:001 stat:UNDELIV err:034"
    first = await client.post(
        "/carrier/v1/dlr", json={"messageId": message_id, "receipt": receipt}, headers=CARRIER
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"applied": True}
    again = await client.post(
        "/carrier/v1/dlr", json={"messageId": message_id, "status": "DELIVERED"}, headers=CARRIER
    )
    assert again.json() == {"applied": False}  # ERROR is final: a late report is a no-op
    assert await _count(hub, events) == 1
    assert await _count(hub, deliveries) == 1
    polled = await client.get(
        f"/api/partner-gateway/v1/messages/status/{message_id}", headers=key.headers
    )
    assert polled.json()["status"] == "ERROR"
    assert polled.json()["statusCode"] == 6
    assert polled.json()["error"] == "carrier: UNDELIV (err 034)"


async def test_intermediate_receipt_is_accepted_without_event(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    client, hub = carrier_api
    message_id = await sent_message(client, key)
    response = await client.post(
        "/carrier/v1/dlr",
        json={"messageId": message_id, "receipt": "id:1 stat:ENROUTE err:000"},
        headers=CARRIER,
    )
    assert response.json() == {"applied": False}
    assert await _count(hub, events) == 0


@pytest.mark.parametrize(
    ("headers", "body", "status", "field"),
    [
        ({}, {"messageId": "x", "status": "DELIVERED"}, 401, None),
        (
            {"Authorization": "Bearer wrong-token"},
            {"messageId": "x", "status": "DELIVERED"},
            401,
            None,
        ),
        (CARRIER, {"messageId": "nope", "status": "DELIVERED"}, 404, None),
        (CARRIER, {"messageId": "x"}, 400, "status"),
        (CARRIER, {"messageId": "x", "status": "SENT"}, 400, "status"),
        (CARRIER, {"messageId": "x", "receipt": "stat:WHAT"}, 400, "receipt"),
        (CARRIER, {"messageId": 5, "status": "DELIVERED"}, 400, "messageId"),
    ],
)
async def test_bad_reports_are_refused(
    carrier_api: tuple[httpx.AsyncClient, Hub],
    key: AccountKey,
    headers: dict[str, str],
    body: dict[str, object],
    status: int,
    field: str | None,
) -> None:
    client, hub = carrier_api
    message_id = await sent_message(client, key)
    body = {**body, "messageId": message_id} if body["messageId"] == "x" else body
    response = await client.post("/carrier/v1/dlr", json=body, headers=headers)
    problem = assert_problem(response, status)
    if field is not None:
        assert [e["field"] for e in problem["errors"]] == [field], problem
    # Refused means refused: the message is still SENT and no event was made.
    assert await _count(hub, events) == 0
    polled = await client.get(
        f"/api/partner-gateway/v1/messages/status/{message_id}", headers=key.headers
    )
    assert polled.json()["status"] == "SENT"


async def test_inbound_goes_to_the_number_owner(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    client, hub = carrier_api
    await hub.accounts.add_waba_number(key.account_id, "+393409876543")
    body = {
        "source": "+393401234567",
        "destination": "+393409876543",
        "channel": "WHATSAPP",
        "text": "Yes",
    }
    response = await client.post("/carrier/v1/inbound", json=body, headers=CARRIER)
    assert response.status_code == 200, response.text
    unknown = await client.post(
        "/carrier/v1/inbound", json={**body, "destination": "+390000000001"}, headers=CARRIER
    )
    assert_problem(unknown, 404)
    assert await _count(hub, events) == 1  # only the first reply


@pytest.mark.parametrize(
    ("field", "value"),
    [("source", "12345"), ("destination", "+39 340"), ("text", ""), ("text", "x" * 4097)],
)
async def test_bad_inbound_is_refused_by_the_same_rule_as_simulated_replies(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey, field: str, value: str
) -> None:
    client, _ = carrier_api
    body = {
        "source": "+393401234567",
        "destination": "+393409876543",
        "channel": "WHATSAPP",
        "text": "Yes",
        field: value,
    }
    carrier = await client.post("/carrier/v1/inbound", json=body, headers=CARRIER)
    simulated = await client.post(
        "/api/partner-gateway/v1/simulate/inbound", json=body, headers=key.headers
    )
    assert assert_problem(carrier, 400)["errors"] == assert_problem(simulated, 400)["errors"]
    assert carrier.json()["errors"][0]["field"] == field
