"""Per-message order to each webhook (issue 13, docs/ordering.md), on both databases: a
message's later event is not claimed, nor handed over, while an earlier one to the same webhook
is still to send; other messages and `ordering: none` webhooks do not wait; every payload of a
message carries its `sequence`; and with a receiver that fails every first DELIVERY attempt,
each READ still arrives after its DELIVERY succeeded."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from dlrhub.domain.status import MessageStatus
from dlrhub.services.handover import Handover
from dlrhub.services.status_changes import CarrierReport, apply_carrier_reports
from dlrhub.store import deliveries as delivery_store
from dlrhub.store.records import AttemptOutcome, DeliveryJob
from dlrhub.store.schema import deliveries, events, webhooks
from tests.support.api_client import AccountKey
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.stack import Stack, stack
from tests.support.waiting import wait_until

WABA = "+393409876543"
LEASE = timedelta(seconds=30)


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[Stack]:
    async with stack(db_url) as built:  # no workers: the tests claim by hand
        yield built


async def _whatsapp_account(app: Stack) -> AccountKey:
    key = await app.new_account()
    await app.hub.accounts.add_waba_number(key.account_id, WABA)
    await app.register(key, "https://hooks.example.com/dlr")
    return key


async def _send(app: Stack, key: AccountKey, destination: str = "+393401234567") -> str:
    sent = await app.send(key, channel="whatsapp", destination=destination, phoneNumberId=WABA)
    return str(sent["messageId"])


def _read_unreported(message_id: str) -> tuple[CarrierReport, CarrierReport]:
    return (
        CarrierReport(message_id, MessageStatus.DELIVERED),
        CarrierReport(message_id, MessageStatus.READ),
    )


async def _report(app: Stack, *reports: CarrierReport, handover: Handover | None = None) -> None:
    async with app.hub.db.transaction() as conn:
        await apply_carrier_reports(conn, reports, now=app.hub.clock(), handover=handover)


async def _claim(app: Stack, worker: str = "w1") -> list[str]:
    now = app.hub.clock()
    async with app.hub.db.transaction() as conn:
        return await delivery_store.claim_due(
            conn, now=now, lease_until=now + LEASE, worker=worker, limit=100
        )


async def _deliveries(app: Stack) -> list[Any]:
    async with app.hub.db.reading() as conn:
        rows = await conn.execute(
            select(deliveries.c.id, deliveries.c.sequence, events.c.event_type, events.c.payload)
            .join(events, events.c.id == deliveries.c.event_id)
            .order_by(deliveries.c.sequence)
        )
        return list(rows)


async def _finish(app: Stack, delivery_id: str, status: str, retry_in: float | None = None) -> None:
    now = app.hub.clock()
    outcome = AttemptOutcome(
        delivery_id=delivery_id,
        webhook_id="",
        attempted_at=now,
        duration_ms=1,
        response_status=200 if status == "succeeded" else 500,
        response_body="",
        error=None,
        new_status=status,
        attempts=1,
        next_attempt_at=None if retry_in is None else now + timedelta(seconds=retry_in),
    )
    async with app.hub.db.transaction() as conn:
        await delivery_store.record_outcomes(conn, [outcome], now)


async def _read_before_delivered(app: Stack) -> tuple[AccountKey, str, list[Any]]:
    """A WhatsApp message reported read while never reported delivered: DELIVERED then READ
    in one transaction (as services/carrier_receipts.py applies it), two deliveries to the
    account's webhook (sequence 1 and 2)."""
    key = await _whatsapp_account(app)
    message_id = await _send(app, key)
    await _report(app, *_read_unreported(message_id))
    rows = await _deliveries(app)
    assert [(r.sequence, r.event_type) for r in rows] == [(1, "DELIVERY"), (2, "READ")]
    return key, message_id, rows


async def test_every_payload_of_a_message_carries_its_sequence(app: Stack) -> None:
    _key, message_id, rows = await _read_before_delivered(app)
    payloads = [json.loads(r.payload) for r in rows]
    assert [(p["eventType"], p["sequence"], p["messageId"]) for p in payloads] == [
        ("DELIVERY", 1, message_id),
        ("READ", 2, message_id),
    ]


async def test_a_later_event_waits_until_the_earlier_one_is_done(app: Stack) -> None:
    _key, _message_id, (first, second) = await _read_before_delivered(app)
    assert await _claim(app) == [first.id]  # the READ waits
    await _finish(app, first.id, "failed", retry_in=0)  # retrying: still waits
    assert await _claim(app, "w2") == [first.id]
    assert await _claim(app, "w3") == []  # leased to w2; the READ still waits
    await _finish(app, first.id, "succeeded")
    assert await _claim(app, "w4") == [second.id]


async def test_a_dead_earlier_event_releases_the_later_one(app: Stack) -> None:
    _key, _message_id, (first, second) = await _read_before_delivered(app)
    assert await _claim(app) == [first.id]
    await _finish(app, first.id, "dead")
    assert await _claim(app, "w2") == [second.id]


async def test_other_messages_do_not_wait(app: Stack) -> None:
    key, _message_id, (first, _second) = await _read_before_delivered(app)
    other = await _send(app, key, "+393401234568")
    await _report(app, CarrierReport(other, MessageStatus.DELIVERED))
    claimed = set(await _claim(app))
    other_delivery = {r.id for r in await _deliveries(app)} - {first.id, _second.id}
    assert claimed == {first.id, *other_delivery}


async def test_a_webhook_with_ordering_none_gets_them_in_parallel(app: Stack) -> None:
    _key, _message_id, (first, second) = await _read_before_delivered(app)
    async with app.hub.db.transaction() as conn:
        await conn.execute(update(webhooks).values(ordering="none"))
    assert set(await _claim(app)) == {first.id, second.id}


@dataclass
class FakeDispatcher:
    """A taker with room for everything, keeping what it is handed."""

    worker_id: str = "fake-worker"
    lease: timedelta = LEASE
    taken: list[DeliveryJob] = field(default_factory=list)

    def room(self) -> int:
        return 1000

    def room_for(self, webhook_id: str) -> int:
        return 1000

    def take(self, jobs: Sequence[DeliveryJob]) -> None:
        self.taken.extend(jobs)


async def test_only_the_first_event_is_handed_over(app: Stack) -> None:
    key = await _whatsapp_account(app)
    message_id = await _send(app, key)
    taker = FakeDispatcher()
    handover = Handover.to(taker, app.hub.clock())
    await _report(app, *_read_unreported(message_id), handover=handover)
    handover.hand_over()
    assert [job.event_type for job in taker.taken] == ["DELIVERY"]
    assert [job.message_id for job in taker.taken] == [message_id]
    rows = await _deliveries(app)
    # The READ is queued for any worker, and claimable once the DELIVERY is done.
    await _finish(app, taker.taken[0].delivery_id, "succeeded")
    assert await _claim(app) == [rows[1].id]


async def test_an_event_after_one_still_in_flight_is_not_handed_over(app: Stack) -> None:
    key = await _whatsapp_account(app)
    message_id = await _send(app, key)
    taker = FakeDispatcher()
    first = Handover.to(taker, app.hub.clock())
    await _report(app, CarrierReport(message_id, MessageStatus.DELIVERED), handover=first)
    second = Handover.to(taker, app.hub.clock())
    await _report(app, CarrierReport(message_id, MessageStatus.READ), handover=second)
    first.hand_over()
    second.hand_over()
    assert [job.event_type for job in taker.taken] == ["DELIVERY"]


def _fail_first_delivery_attempts(receiver: Receiver) -> None:
    """Every DELIVERY event's first attempt gets a 500; everything else a 200."""
    seen: set[str] = set()
    lock = threading.Lock()

    def reply(request: ReceivedRequest) -> Reply:
        webhook_id = request.header("webhook-id") or ""
        with lock:
            first = webhook_id not in seen
            seen.add(webhook_id)
        return Reply(500) if first and request.json()["eventType"] == "DELIVERY" else Reply(200)

    receiver.reply_for = reply


async def test_reads_arrive_after_their_delivery_succeeded(db_url: str) -> None:
    count = 40
    with Receiver() as receiver:
        _fail_first_delivery_attempts(receiver)
        # Every DELIVERY fails once: the breaker and the ramp must not slow the test down.
        async with stack(
            db_url,
            workers=True,
            retry_schedule="0.3,0.3,0.3",
            circuit_threshold=1_000_000,
            initial_in_flight_per_webhook=64,
        ) as app:
            key = await app.new_account()
            await app.hub.accounts.add_waba_number(key.account_id, WABA)
            await app.register(key, receiver.url_for("/dlr"))
            sent = [await _send(app, key, f"+3934012{n:04d}1") for n in range(count)]

            def reads_done() -> bool:
                reads = [r for r in receiver.requests if r.json()["eventType"] == "READ"]
                return len(reads) >= count

            await wait_until(reads_done, timeout=60, what=f"{count} READ webhooks")
    by_message: dict[str, list[ReceivedRequest]] = {}
    for request in receiver.requests:
        by_message.setdefault(request.json()["messageId"], []).append(request)
    assert set(by_message) == set(sent)
    for message_id, arrivals in by_message.items():
        kinds = [(r.json()["eventType"], r.json()["sequence"]) for r in arrivals]
        # The failed first attempt, its retry, then the READ: never the READ in between.
        assert kinds == [("DELIVERY", 1), ("DELIVERY", 1), ("READ", 2)], message_id
