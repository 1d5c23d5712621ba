"""The SMPP connector in this process against the node-smpp SMSC, on both databases
(issue 11): what leaves (GSM, UCS-2, three parts, addresses), what the SMSC's answers do to
a message, receipts in every form SMSCs write them, replies, and unknown receipts."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dlrhub.domain.sending import SendFields
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.metrics import Metrics
from dlrhub.store.records import MessageRecord
from dlrhub.store.schema import early_receipts, events
from dlrhub.wiring.hub import Hub
from tests.support.smsc import StartSmsc, TestSmsc
from tests.support.stack import make_settings, running_workers
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("db_url")

FINAL = {MessageStatus.DELIVERED, MessageStatus.ERROR, MessageStatus.EXPIRED}
hub_metrics: dict[int, Metrics] = {}  # the metrics of each running hub's workers


@asynccontextmanager
async def connected(db_url: str, smsc: TestSmsc, **settings: Any) -> AsyncIterator[Hub]:
    """A hub whose workers run the SMPP connector bound to `smsc`, and an account."""
    hub = Hub.build(
        make_settings(
            db_url,
            smpp_binds=settings.pop("binds", smsc.url()),
            smpp_default_sender=settings.pop("sender", "DLRHUB"),
            **settings,
        )
    )
    try:
        async with running_workers(hub) as workers:
            hub_metrics[id(hub)] = workers.metrics
            yield hub
    finally:
        await hub.db.dispose()


async def _send(hub: Hub, account_id: str, destination: str, body: str) -> MessageRecord:
    fields = SendFields(channel=Channel.SMS, destination=destination, body=body)
    return (await hub.messaging.send(account_id, fields, None)).message


async def _final(hub: Hub, account_id: str, message: MessageRecord) -> MessageRecord:
    async def probe() -> MessageRecord | None:
        now = await hub.messaging.status(account_id, message.customer_message_id)
        return now if now.status in FINAL else None

    return await wait_until(probe, timeout=15, what=f"a final status for {message.id}")


async def _account(hub: Hub) -> str:
    return (await hub.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")).account_id


async def _events_of(hub: Hub, message_id: str) -> list[dict[str, Any]]:
    async with hub.db.reading() as conn:
        rows = await conn.execute(select(events.c.payload).where(events.c.message_id == message_id))
        return [json.loads(row.payload) for row in rows]


async def test_gsm_ucs2_and_three_parts_leave_as_section_2_counts(
    db_url: str, start_smsc: StartSmsc
) -> None:
    smsc = start_smsc()
    async with connected(db_url, smsc) as hub:
        account = await _account(hub)
        gsm = await _send(hub, account, "+447700900123", "Price: 10€ {ok}")
        ucs2 = await _send(hub, account, "+447700900124", "Привет, мир")
        long = await _send(hub, account, "+447700900125", "A" * 160 + "B" * 153 + "C" * 10)
        for message in (gsm, ucs2, long):
            assert (await _final(hub, account, message)).status is MessageStatus.DELIVERED
    by_destination: dict[str, list[dict[str, Any]]] = {}
    for event in smsc.events("submit"):
        by_destination.setdefault(event["destination"], []).append(event)
    (one,) = by_destination["447700900123"]
    assert (one["data_coding"], one["esm_class"], one["text"]) == (0, 0, "Price: 10€ {ok}")
    assert (one["source"], one["source_ton"], one["source_npi"]) == ("DLRHUB", 5, 0)
    assert (one["dest_ton"], one["dest_npi"], one["registered_delivery"]) == (1, 1, 1)
    (two,) = by_destination["447700900124"]
    assert (two["data_coding"], two["text"]) == (8, "Привет, мир")
    parts = by_destination["447700900125"]
    assert long.total_parts == 3
    assert len(parts) == 3
    assert [p["text"] for p in parts] == ["A" * 153, "A" * 7 + "B" * 146, "B" * 7 + "C" * 10]
    assert all(p["esm_class"] == 0x40 for p in parts)
    headers = [bytes.fromhex(p["udh"]) for p in parts]
    assert {h[3] for h in headers} == {headers[0][3]}  # one reference for the three
    assert [(h[:3], h[4], h[5]) for h in headers] == [(b"\x05\x00\x03", 3, n) for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("ids", "receipts", "mode"),
    [
        ("hex", "tlv", "auto"),
        ("hex", "text-hex", "hex"),
        ("hex", "text-dec", "dec"),
        ("dec", "text-hex", "hex"),
        ("hex", "text-dec", "auto"),
        ("dec", "text-hex", "auto"),
    ],
)
async def test_receipts_match_in_every_form_smscs_write_ids(
    db_url: str, start_smsc: StartSmsc, ids: str, receipts: str, mode: str
) -> None:
    smsc = start_smsc(IDS=ids, RECEIPTS=receipts)
    async with connected(db_url, smsc, binds=smsc.url(receipt_ids=mode)) as hub:
        account = await _account(hub)
        delivered = await _send(hub, account, "+447700900120", "hello")
        undeliverable = await _send(hub, account, "+447700900103", "hello")
        expired = await _send(hub, account, "+447700900104", "hello")
        assert (await _final(hub, account, delivered)).status is MessageStatus.DELIVERED
        failed = await _final(hub, account, undeliverable)
        assert failed.status is MessageStatus.ERROR
        assert (failed.error or "").startswith("carrier: UNDELIV")
        assert (await _final(hub, account, expired)).status is MessageStatus.EXPIRED
        (event,) = await _events_of(hub, undeliverable.id)
        assert (event["eventType"], event["statusCode"]) == ("DELIVERY", 6)


async def test_refused_for_good_and_throttled_then_accepted(
    db_url: str, start_smsc: StartSmsc
) -> None:
    smsc = start_smsc()
    async with connected(db_url, smsc) as hub:
        account = await _account(hub)
        refused = await _send(hub, account, "+447700900101", "no such number")
        throttled = await _send(hub, account, "+447700900102", "busy")
        queue_full = await _send(hub, account, "+447700900106", "full")
        gone = await _final(hub, account, refused)
        assert gone.status is MessageStatus.ERROR
        assert gone.error == "ESME_RINVDSTADR (0x0000000B)"
        (event,) = await _events_of(hub, refused.id)
        assert (event["statusCode"], event["status"]) == (6, "ERROR")
        assert (await _final(hub, account, throttled)).status is MessageStatus.DELIVERED
        assert (await _final(hub, account, queue_full)).status is MessageStatus.DELIVERED
    statuses = [e["status"] for e in smsc.events("submit") if e["destination"] == "447700900102"]
    assert statuses == [0x58, 0x58, 0]  # tried again after each "slow down", then accepted
    assert [e["status"] for e in smsc.events("submit") if e["destination"] == "447700900101"] == [
        0x0B
    ]


async def test_throttled_past_the_give_up_time_is_an_error(
    db_url: str, start_smsc: StartSmsc
) -> None:
    smsc = start_smsc()
    async with connected(db_url, smsc, submit_give_up_s=0.5) as hub:
        account = await _account(hub)
        message = await _final(hub, account, await _send(hub, account, "+447700900102", "x"))
    assert message.status is MessageStatus.ERROR
    assert message.error == "not accepted by the carrier: ESME_RTHROTTLED (0x00000058)"


async def test_unknown_receipts_are_acknowledged_kept_and_counted(
    db_url: str, start_smsc: StartSmsc
) -> None:
    smsc = start_smsc(RECEIPTS="text-dec")
    async with connected(db_url, smsc) as hub:
        await smsc.wait_for(lambda e: e["event"] == "bind")
        smsc.send({"cmd": "receipt", "id": "ffffff01", "state": 2, "mode": "tlv"})
        smsc.send({"cmd": "receipt", "id": "424242", "state": 5, "mode": "text-dec"})
        await smsc.wait_for(lambda e: e["event"] == "deliver_sm_resp", skip=1)
        answers = smsc.events("deliver_sm_resp")
        assert [a["status"] for a in answers] == [0, 0]
        async with hub.db.reading() as conn:
            kept = await conn.execute(
                select(func.count(func.distinct(early_receipts.c.receipt_id)))
            )
            assert kept.scalar_one() == 2
        registry = hub_metrics[id(hub)].registry
        counted = registry.get_sample_value(
            "dlrhub_smpp_unmatched_receipts_total", {"bind": smsc.bind().name}
        )
    assert counted == 2


async def test_replies_reach_the_account_of_the_number_registered_for_sms(
    db_url: str, start_smsc: StartSmsc
) -> None:
    smsc = start_smsc()
    async with connected(db_url, smsc) as hub:
        account = await _account(hub)
        await hub.accounts.add_number(account, "+447700900999", Channel.SMS)
        await smsc.wait_for(lambda e: e["event"] == "bind")
        smsc.send(
            {
                "cmd": "mo",
                "from": "447700900123",
                "to": "447700900999",
                "text": "Да, {ok}",
                "data_coding": 8,
            }
        )
        smsc.send({"cmd": "mo", "from": "447700900123", "to": "447700900555", "text": "lost?"})
        await smsc.wait_for(lambda e: e["event"] == "deliver_sm_resp", skip=1, timeout=10)
        assert [a["status"] for a in smsc.events("deliver_sm_resp")] == [0, 0]
        async with hub.db.reading() as conn:
            rows = await conn.execute(
                select(events.c.account_id, events.c.event_type, events.c.payload)
            )
            stored = [(r.account_id, r.event_type, json.loads(r.payload)) for r in rows]
    (only,) = stored  # the reply to an unregistered number is acknowledged, nothing stored
    owner, event_type, payload = only
    assert (owner, event_type) == (account, "INBOUND")
    assert (payload["source"], payload["destination"]) == ("+447700900123", "+447700900999")
    assert (payload["text"], payload["channel"]) == ("Да, {ok}", "SMS")


async def test_a_tls_bind_checks_the_smscs_certificate(
    db_url: str,
    tls_smsc: TestSmsc,
    smsc_tls: TestTLS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The connector trusts what the system trusts, SSL_CERT_FILE included (docs/carriers.md).
    monkeypatch.setenv("SSL_CERT_FILE", str(smsc_tls.ca_pem_path))
    async with connected(db_url, tls_smsc) as hub:
        account = await _account(hub)
        message = await _send(hub, account, "+447700900123", "over TLS")
        assert (await _final(hub, account, message)).status is MessageStatus.DELIVERED
    assert tls_smsc.url().startswith("smpps://")


async def test_an_untrusted_smsc_certificate_binds_nothing(
    db_url: str, tls_smsc: TestSmsc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_tls(tmp_path / "other-ca")
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_pem_path))
    async with connected(db_url, tls_smsc) as hub:
        account = await _account(hub)
        message = await _send(hub, account, "+447700900123", "never sent")
        await asyncio.sleep(1.5)  # two connection attempts (1 s backoff)
        assert (await hub.messaging.status(account, message.id)).status is MessageStatus.SENT
    assert tls_smsc.events("bind") == []
    assert tls_smsc.events("submit") == []
