"""The dispatcher against a real HTTPS receiver (SPEC §6, §7; DESIGN.md), on both databases.

The workers run in-process; the receiver is a real TLS server whose certificate comes from a
test CA that the dispatcher trusts only through `Settings.ca_bundle`.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from dlrhub.domain.status import MessageStatus
from dlrhub.services.status_changes import (
    CarrierReport,
    CarrierReportOutcome,
    apply_carrier_reports,
)
from dlrhub.store import messages as message_store
from tests.support.api_client import AccountKey
from tests.support.assertions import ISO_Z
from tests.support.contract import DELIVERY_KEYS
from tests.support.net import closed_port
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.stack import Stack, by_event, stack
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls, make_untrusted_server_context
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls-dispatch"))


@pytest.fixture
def receiver(tls: TestTLS) -> Iterator[Receiver]:
    with Receiver(tls=tls) as running:
        yield running


@pytest.fixture
async def app(db_url: str, tls: TestTLS) -> AsyncIterator[Stack]:
    async with stack(db_url, workers=True, ca_bundle=tls.ca_pem_path) as built:
        yield built


def _check_signed(request: ReceivedRequest, secret: str) -> None:
    assert request.method == "POST"
    assert request.header("content-type") == "application/json"
    assert (request.header("user-agent") or "").startswith("dlrhub/")
    verify(secret, request.headers, request.body)


async def _one_delivery(app: Stack, message_id: str) -> str:
    rows = await wait_until(
        lambda: app.delivery_rows(message_id), what=f"a delivery for message {message_id}"
    )
    assert len(rows) == 1, rows
    return str(rows[0].id)


async def _delivery_status(app: Stack, delivery_id: str, wanted: str) -> bool:
    rows = [row for row in await app.delivery_rows() if row.id == delivery_id]
    return bool(rows) and rows[0].status == wanted


async def test_fails_twice_then_succeeds_same_webhook_id(app: Stack, receiver: Receiver) -> None:
    key = await app.new_account()
    await app.register(key, receiver.url_for("/hook"))
    secret = await app.secret(key)
    receiver.respond_with(Reply(500, b"boom"), Reply(502, b"bad gateway"))
    sent = await app.send(key, destination="+393401234567", messageId="order-3x")

    requests = await receiver.await_for(3, timeout=15)
    assert len({r.header("webhook-id") for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    for request in requests:
        _check_signed(request, secret)
    payload = requests[0].json()
    assert set(payload) == DELIVERY_KEYS
    assert payload["messageId"] == sent["messageId"]
    assert payload["customerMessageId"] == "order-3x"
    assert (payload["statusCode"], payload["status"]) == (3, "DELIVERED")
    assert ISO_Z.match(payload["timestamp"])
    # The retries waited for the schedule (1 s, then 1 s, each ±20 %).
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(requests)]
    assert all(gap >= 0.75 for gap in gaps), gaps

    delivery_id = await _one_delivery(app, sent["messageId"])
    await wait_until(
        lambda: _delivery_status(app, delivery_id, "succeeded"), what="delivery succeeded"
    )
    attempts = await app.attempt_rows(delivery_id)
    assert [a.response_status for a in attempts] == [500, 502, 200]
    assert [a.response_body for a in attempts] == ["boom", "bad gateway", "ok"]
    assert attempts[0].error
    assert attempts[2].error is None
    assert all(a.duration_ms >= 0 for a in attempts)
    [row] = [r for r in await app.delivery_rows() if r.id == delivery_id]
    assert row.attempts == 3
    assert len(receiver.requests) == 3  # nothing after the success


async def test_always_failing_ends_dead_with_every_attempt_recorded(
    app: Stack, receiver: Receiver
) -> None:
    key = await app.new_account()
    await app.register(key, receiver.url_for("/down"))
    secret = await app.secret(key)
    receiver.default_reply = Reply(500, b"still down")
    sent = await app.send(key, destination="+393400000006")  # ERROR 6

    delivery_id = await _one_delivery(app, sent["messageId"])
    await wait_until(
        lambda: _delivery_status(app, delivery_id, "dead"), what="delivery dead", timeout=20
    )
    attempts = await app.attempt_rows(delivery_id)
    # Schedule "1,1,2": the first attempt and three retries.
    assert len(attempts) == 4
    assert all(a.response_status == 500 for a in attempts)
    assert all(a.response_body == "still down" for a in attempts)
    assert all(a.error for a in attempts)
    [row] = [r for r in await app.delivery_rows() if r.id == delivery_id]
    assert row.attempts == 4

    requests = receiver.requests
    assert len(requests) == 4
    assert len({r.header("webhook-id") for r in requests}) == 1
    for request in requests:
        _check_signed(request, secret)
        assert request.json()["statusCode"] == 6
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(requests)]
    assert gaps[2] >= 1.5, gaps  # the last wait is 2 s ± 20 %

    # Dead means dead: the dispatcher keeps running, and never tries again.
    other = await app.send(key, destination="+393400000003")
    receiver.default_reply = Reply(200)
    await receiver.await_for(5)
    assert [r.json()["messageId"] for r in receiver.requests[4:]] == [other["messageId"]]
    assert await _delivery_status(app, delivery_id, "dead")


async def test_unreachable_and_untrusted_endpoints_are_recorded_as_errors(
    db_url: str, tls: TestTLS
) -> None:
    async with (
        Receiver(tls=make_untrusted_server_context()) as untrusted,
        stack(db_url, workers=True, ca_bundle=tls.ca_pem_path, retry_schedule="") as app,
    ):
        for url in (f"https://127.0.0.1:{closed_port()}/hook", untrusted.url_for("/hook")):
            key = await app.new_account()
            await app.register(key, url)
            sent = await app.send(key)
            delivery_id = await _one_delivery(app, sent["messageId"])
            await wait_until(
                lambda d=delivery_id: _delivery_status(app, d, "dead"), what=f"dead for {url}"
            )
            [attempt] = await app.attempt_rows(delivery_id)
            assert attempt.response_status is None
            assert attempt.error
        # TLS verification stayed on: the untrusted server never got a request through.
        assert untrusted.requests == []


async def test_retry_after_is_honoured(app: Stack, receiver: Receiver) -> None:
    # Both statuses at once, on two accounts' webhooks, so the test waits only once.
    sent: dict[int, dict[str, Any]] = {}
    for status in (503, 429):
        key = await app.new_account()
        await app.register(key, receiver.url_for(f"/busy-{status}"))
        receiver.respond_with(Reply(status, b"later", headers={"Retry-After": "3"}))
        sent[status] = await app.send(key)
        await receiver.await_for(1, predicate=lambda r, s=status: r.path == f"/busy-{s}")

    for status, message in sent.items():
        first, second = await receiver.await_for(
            2, timeout=15, predicate=lambda r, s=status: r.path == f"/busy-{s}"
        )
        assert first.header("webhook-id") == second.header("webhook-id")
        # The schedule says 1 s (at most 1.2 s with jitter); the receiver asked for 3.
        assert second.received_at - first.received_at >= 3.0, status
        delivery_id = await _one_delivery(app, message["messageId"])
        await wait_until(
            lambda d=delivery_id: _delivery_status(app, d, "succeeded"), what="succeeded"
        )
        attempts = await app.attempt_rows(delivery_id)
        assert [a.response_status for a in attempts] == [status, 200]


async def test_disabled_notification_sends_nothing_but_polling_works(
    app: Stack, receiver: Receiver
) -> None:
    key = await app.new_account()
    await app.register(key, receiver.url_for("/hook"))
    quiet = [
        await app.send(key, channel=channel, destination="+393401230000", enableNotification=False)
        for channel in ("sms", "whatsapp", "rcs")
    ]
    # A message sent after them, with notifications: once its events are in, the quiet
    # ones (reported first) would have been too.
    loud = await app.send(key, channel="whatsapp", destination="+393401239999")
    await receiver.await_for(2)  # its DELIVERY and READ
    expected = {"SMS": "DELIVERED", "WHATSAPP": "READ", "RCS": "READ"}
    for message in quiet:
        polled = await wait_until(
            lambda m=message: _polled_final(app, key, m["customerMessageId"]),
            what="final status",
        )
        assert polled["status"] == expected[polled["channel"]]
        assert polled["deliveredAt"] is not None
        assert await app.delivery_rows(message["messageId"]) == []
    assert {r.json()["messageId"] for r in receiver.requests} == {loud["messageId"]}
    assert len(receiver.requests) == 2


async def _polled_final(app: Stack, key: AccountKey, customer_id: str) -> dict[str, Any] | None:
    polled = await app.poll(key, customer_id)
    if polled["status"] == "DELIVERED" and polled["channel"] != "SMS":
        return None  # READ still to come
    return None if polled["status"] == "SENT" else polled


async def test_late_or_duplicate_reports_are_no_ops(app: Stack, receiver: Receiver) -> None:
    key = await app.new_account()
    await app.register(key, receiver.url_for("/hook"))
    sent = await app.send(key, channel="sms", destination="+393401234567")
    async with app.hub.db.reading() as conn:
        stale = (await message_store.by_ids(conn, [sent["messageId"]]))[sent["messageId"]]
    assert stale.status is MessageStatus.SENT

    [first] = await receiver.await_for(1)
    assert first.json()["status"] == "DELIVERED"
    now = app.hub.clock()
    async with app.hub.db.transaction() as conn:
        current = (await message_store.by_ids(conn, [sent["messageId"]]))[sent["messageId"]]
        assert current.status is MessageStatus.DELIVERED
        late = [
            MessageStatus.DELIVERED,  # repeated
            MessageStatus.ERROR,  # would move back
            MessageStatus.EXPIRED,
            MessageStatus.SENT,
            MessageStatus.READ,  # SMS has no read receipts
            MessageStatus.DELIVERED,  # a racing duplicate: judged on the locked row
            MessageStatus.ERROR,  # a late, contradicting report
        ]
        outcomes, queued = await apply_carrier_reports(
            conn, [CarrierReport(stale.id, status, "late") for status in late], now=now
        )
        assert outcomes == [CarrierReportOutcome.IGNORED] * len(late), outcomes
        assert queued == 0
    app.hub.signals.deliveries_queued()

    polled = await app.poll(key, sent["customerMessageId"])
    assert polled["status"] == "DELIVERED"
    assert polled["statusCode"] == 3
    assert polled["error"] is None
    assert await app.event_count(sent["messageId"]) == 1
    assert len(await app.delivery_rows(sent["messageId"])) == 1
    # Nothing else is sent: a later message's event is the only next arrival.
    marker = await app.send(key, destination="+393409999999")
    await receiver.await_for(2)
    assert [r.json()["messageId"] for r in receiver.requests] == [
        sent["messageId"],
        marker["messageId"],
    ]


async def test_every_event_of_a_message_reaches_the_webhook_once(
    app: Stack, receiver: Receiver
) -> None:
    key = await app.new_account()
    await app.register(key, receiver.url_for("/hook"))
    secret = await app.secret(key)
    sent = await app.send(key, channel="rcs", destination="+393401234567", messageId="rcs-1")
    requests = await receiver.await_for(2)
    events = by_event(requests)
    assert len(events) == 2
    types = sorted(r.json()["eventType"] for r in requests)
    assert types == ["DELIVERY", "READ"]
    for request in requests:
        _check_signed(request, secret)
        assert request.json()["messageId"] == sent["messageId"]
