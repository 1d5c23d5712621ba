"""Group commit of sends (issue 10): concurrent sends share transactions, and each still gets
exactly the answer it would get alone — a new message, an idempotent replay, a conflict, a
refused business number. Both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from dlrhub.domain.errors import Conflict, InvalidInput
from dlrhub.domain.sending import SendFields
from dlrhub.domain.status import Channel
from dlrhub.services.messaging import MessagingService
from dlrhub.store.engine import READ_ONLY
from dlrhub.store.schema import messages
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.carrier import WABA_NUMBER
from tests.support.faulty_db import FaultyDatabase

SEND = "/api/message-server/{channel}/send"


def _count_write_transactions(hub: Hub) -> list[int]:
    begun = [0]

    @event.listens_for(hub.db.engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get(READ_ONLY, False):
            begun[0] += 1

    return begun


async def _stored(hub: Hub, account_id: str) -> dict[str, str]:
    async with hub.db.reading() as conn:
        rows = await conn.execute(
            select(messages.c.customer_message_id, messages.c.body).where(
                messages.c.account_id == account_id
            )
        )
        return {row.customer_message_id: row.body for row in rows}


def _sms(body: str, message_id: str | None = None) -> dict[str, object]:
    request: dict[str, object] = {"destination": "+393401234567", "body": body, "simulation": True}
    if message_id is not None:
        request["messageId"] = message_id
    return request


async def test_a_burst_of_sends_shares_transactions_and_answers_each_one(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    client, hub = carrier_api
    await hub.accounts.add_waba_number(key.account_id, WABA_NUMBER)
    other = await hub.accounts.create("someone-else")
    await hub.accounts.add_waba_number(other.account_id, "+393409999999")
    sends: list[tuple[str, dict[str, object]]] = [("sms", _sms(f"n{i}")) for i in range(30)]
    sends += [
        ("whatsapp", {**_sms("wa"), "phoneNumberId": WABA_NUMBER}),
        ("whatsapp", {**_sms("theirs"), "phoneNumberId": "+393409999999"}),  # not ours: 400
    ]
    begun = _count_write_transactions(hub)
    answers = await asyncio.gather(
        *(
            client.post(SEND.format(channel=channel), json=body, headers=key.headers)
            for channel, body in sends
        )
    )
    codes = [a.status_code for a in answers]
    assert codes == [201] * 31 + [400], [a.text for a in answers]
    assert answers[31].json()["errors"][0]["field"] == "phoneNumberId"
    assert begun[0] < len(sends) // 2, f"{begun[0]} transactions for {len(sends)} sends"
    assert len(await _stored(hub, key.account_id)) == 31  # 30 + the WhatsApp one
    assert await _stored(hub, other.account_id) == {}


async def test_one_messageid_twice_in_a_batch_is_one_message_and_a_replay_or_a_conflict(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    _, hub = carrier_api
    first = SendFields(Channel.SMS, "+393401234567", "first", None, None, True, True)
    changed = SendFields(Channel.SMS, "+393401234567", "changed", None, None, True, True)
    begun = _count_write_transactions(hub)
    # Submitted in this order to the same batch (each call queues before it first waits).
    results = await asyncio.gather(
        hub.messaging.send(key.account_id, first, "order-1"),
        hub.messaging.send(key.account_id, first, "order-1"),  # the same request again
        hub.messaging.send(key.account_id, changed, "order-1"),  # the id, another message
        return_exceptions=True,
    )
    created, replayed, conflict = results
    assert not isinstance(created, BaseException)
    assert not isinstance(replayed, BaseException)
    assert (created.created, replayed.created) == (True, False)
    assert replayed.message.id == created.message.id
    assert isinstance(conflict, Conflict)
    assert begun[0] == 1  # one transaction for the three
    assert await _stored(hub, key.account_id) == {"order-1": "first"}


async def test_a_failed_batch_is_written_send_by_send(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    _, hub = carrier_api
    messaging = MessagingService(
        FaultyDatabase(hub.db.engine, failing_transactions=1),
        hub.signals,
        hub.clock,
        simulator_delay=timedelta(0),
    )
    fields = [
        SendFields(Channel.SMS, "+393401234567", f"b{i}", None, None, True, True) for i in range(5)
    ]
    results = await asyncio.gather(
        *(messaging.send(key.account_id, f, f"id-{i}") for i, f in enumerate(fields))
    )
    assert [r.created for r in results] == [True] * 5
    assert set(await _stored(hub, key.account_id)) == {f"id-{i}" for i in range(5)}


async def test_a_lone_send_that_fails_gets_the_error_and_stores_nothing(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    _, hub = carrier_api
    messaging = MessagingService(
        FaultyDatabase(hub.db.engine, failing_transactions=1),
        hub.signals,
        hub.clock,
        simulator_delay=timedelta(0),
    )
    fields = SendFields(Channel.SMS, "+393401234567", "lost", None, None, True, True)
    try:
        await messaging.send(key.account_id, fields, "lost-1")
    except ConnectionResetError:
        pass
    else:
        raise AssertionError("the failure was not reported")
    assert await _stored(hub, key.account_id) == {}
    again = await messaging.send(key.account_id, fields, "lost-1")  # the client's retry
    assert again.created
    assert await _stored(hub, key.account_id) == {"lost-1": "lost"}


async def test_a_refused_send_in_a_batch_stores_the_others(
    carrier_api: tuple[httpx.AsyncClient, Hub], key: AccountKey
) -> None:
    _, hub = carrier_api
    foreign = SendFields(Channel.WHATSAPP, "+393401234567", "x", None, "+393400000000", True, True)
    fine = SendFields(Channel.SMS, "+393401234567", "ok", None, None, True, True)
    results = await asyncio.gather(
        hub.messaging.send(key.account_id, foreign, None),
        hub.messaging.send(key.account_id, fine, "fine-1"),
        return_exceptions=True,
    )
    assert isinstance(results[0], InvalidInput)
    assert not isinstance(results[1], BaseException)
    assert results[1].created
    async with hub.db.reading() as conn:
        count = (await conn.execute(select(func.count()).select_from(messages))).scalar_one()
    assert count == 1
