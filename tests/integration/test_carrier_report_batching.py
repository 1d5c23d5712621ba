"""Group commit of carrier reports (issue 3, latency): concurrent reports share one
transaction and each still gets exactly the answer it would get alone. Both databases."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import event, func, select

from dlrhub.domain.status import MessageStatus
from dlrhub.services.carrier_report_batcher import CarrierReportBatcher
from dlrhub.services.status_changes import CarrierReport, CarrierReportOutcome
from dlrhub.store.schema import deliveries, events, messages
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.carrier import CARRIER, WABA_NUMBER, sent_message
from tests.support.faulty_db import FaultyDatabase

HOOK = "/api/partner-gateway/v1/webhooks/delivery-status"


def _count_transactions(hub: Hub) -> list[int]:
    begun = [0]

    @event.listens_for(hub.db.engine.sync_engine, "begin")
    def _on_begin(_conn: object) -> None:
        begun[0] += 1

    return begun


async def _statuses(hub: Hub, ids: list[str]) -> dict[str, str]:
    async with hub.db.reading() as conn:
        rows = await conn.execute(
            select(messages.c.id, messages.c.status).where(messages.c.id.in_(ids))
        )
        return {row.id: row.status for row in rows}


async def _count(hub: Hub, query: object) -> int:
    async with hub.db.reading() as conn:
        return int((await conn.execute(query)).scalar_one())  # type: ignore[call-overload]


async def test_a_burst_of_reports_shares_transactions_and_answers_each_one(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    client, hub = carrier_api
    await client.post(HOOK, json={"callbackUrl": "https://127.0.0.1:9/hook"}, headers=key.headers)
    sms = [await sent_message(client, key) for _ in range(30)]
    await hub.accounts.add_waba_number(key.account_id, WABA_NUMBER)
    whatsapp = await sent_message(client, key, "whatsapp")
    reports = [{"messageId": m, "status": "DELIVERED"} for m in sms]
    reports += [{"messageId": sms[0], "status": "DELIVERED"}]  # repeated: a no-op
    reports += [{"messageId": sms[1], "status": "ERROR"}]  # late: DELIVERED is final
    reports += [
        {"messageId": whatsapp, "status": "DELIVERED"},
        {"messageId": whatsapp, "status": "READ"},  # same burst, after DELIVERED
        {"messageId": "no-such-message", "status": "DELIVERED"},
    ]
    begun = _count_transactions(hub)
    answers = await asyncio.gather(
        *(client.post("/carrier/v1/dlr", json=body, headers=CARRIER) for body in reports)
    )
    got = [(a.status_code, a.json().get("applied")) for a in answers]
    assert got == [(200, True)] * 30 + [(200, False), (200, False), (200, True), (200, True)] + [
        (404, None)
    ]
    assert begun[0] < len(reports) // 2, f"{begun[0]} transactions for {len(reports)} reports"
    statuses = await _statuses(hub, [*sms, whatsapp])
    assert statuses == {**dict.fromkeys(sms, "DELIVERED"), whatsapp: "READ"}
    # One event and one delivery per applied report, none for the others.
    assert await _count(hub, select(func.count()).select_from(events)) == 32
    assert await _count(hub, select(func.count()).select_from(deliveries)) == 32
    polled = await client.get(
        f"/api/partner-gateway/v1/messages/status/{whatsapp}", headers=key.headers
    )
    assert polled.json()["status"] == "READ"
    assert polled.json()["deliveredAt"] is not None
    assert polled.json()["readAt"] is not None


async def test_a_failed_batch_is_applied_report_by_report(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    client, hub = carrier_api
    sms = [await sent_message(client, key) for _ in range(5)]
    batcher = CarrierReportBatcher(
        FaultyDatabase(hub.db.engine, failing_transactions=1), hub.signals, hub.clock
    )
    outcomes = await asyncio.gather(
        *(batcher.submit(CarrierReport(m, MessageStatus.DELIVERED)) for m in sms)
    )
    assert outcomes == [CarrierReportOutcome.APPLIED] * 5
    assert set((await _statuses(hub, sms)).values()) == {"DELIVERED"}


async def test_a_lone_report_that_fails_gets_the_error(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    client, hub = carrier_api
    message_id = await sent_message(client, key)
    batcher = CarrierReportBatcher(
        FaultyDatabase(hub.db.engine, failing_transactions=1), hub.signals, hub.clock
    )
    try:
        await batcher.submit(CarrierReport(message_id, MessageStatus.DELIVERED))
    except ConnectionResetError:
        pass
    else:
        raise AssertionError("the failure was not reported")
    assert await _statuses(hub, [message_id]) == {message_id: "SENT"}
    # The next report is written normally.
    assert await batcher.submit(CarrierReport(message_id, MessageStatus.DELIVERED)) is (
        CarrierReportOutcome.APPLIED
    )
