"""Receipts that name messages by the carrier's id (SPEC §11.2, issue 11): matched to the part
they report on, a multi-part message moved when its parts say so, a receipt that overtakes its
acceptance kept and applied later. Both databases; a clock the test moves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Table, select

from dlrhub.domain.sending import SendFields
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.services.carrier_receipts import PartReport, ReceiptOutcome, apply_part_reports
from dlrhub.services.submissions import AcceptedPart, SubmitOutcome
from dlrhub.store import carrier_ids
from dlrhub.store.database import Database
from dlrhub.store.schema import carrier_parts, deliveries, early_receipts, events, messages
from dlrhub.store.submissions import Submission
from dlrhub.wiring.hub import Hub
from tests.support.stack import make_settings

BIND = "smpp://a:b@127.0.0.1:1"
LEASE = timedelta(seconds=30)
# GSM 03.38 bodies of one, two and three concatenated parts (153 characters per part).
BODIES = {1: "hello", 2: "a" * 161, 3: "b" * 307}
DELIVERED = MessageStatus.DELIVERED
UNDELIV = "carrier: UNDELIV (err 034)"


class Clock:
    """The hub's clock, moved by the test (whole seconds: both databases store them exactly)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def smpp_hub(db_url: str, clock: Clock) -> AsyncIterator[Hub]:
    hub = Hub.build(make_settings(db_url, smpp_binds=BIND), clock=clock)
    try:
        yield hub
    finally:
        await hub.db.dispose()


@pytest.fixture
async def account_id(smpp_hub: Hub) -> str:
    created = (await smpp_hub.accounts.create("receipts-test")).account_id
    await smpp_hub.delivery_status.create(created, "https://127.0.0.1:9/hook")
    return created


async def _claimed(hub: Hub, account_id: str, parts: int) -> Submission:
    """A real SMS of `parts` parts, sent and claimed for submission."""
    fields = SendFields(Channel.SMS, "+393401234567", BODIES[parts])
    message_id = (await hub.messaging.send(account_id, fields, None)).message.id
    claimed = await hub.submissions.claim(Channel.SMS, worker="w", limit=10, lease=LEASE)
    (submission,) = [s for s in claimed if s.message.id == message_id]
    assert submission.message.total_parts == parts
    return submission


async def _accept(hub: Hub, submission: Submission, keys: list[str]) -> None:
    accepted = tuple(AcceptedPart(i, key.upper(), key) for i, key in enumerate(keys))
    await hub.submissions.record(SubmitOutcome(submission, SubmitAnswer.ACCEPTED, "", accepted))


async def _accepted(hub: Hub, account_id: str, keys: list[str]) -> str:
    """A real SMS with one part per key, accepted by the carrier under those keys."""
    submission = await _claimed(hub, account_id, len(keys))
    await _accept(hub, submission, keys)
    return submission.message.id


async def _rows(db: Database, table: Table, *where: ColumnElement[bool]) -> list[Any]:
    async with db.reading() as conn:
        return list(await conn.execute(select(table).where(*where)))


async def _message(db: Database, message_id: str) -> Any:
    (row,) = await _rows(db, messages, messages.c.id == message_id)
    return row


async def _part_statuses(db: Database, message_id: str) -> list[str | None]:
    rows = await _rows(db, carrier_parts, carrier_parts.c.message_id == message_id)
    return [row.status for row in sorted(rows, key=lambda row: row.part_index)]


async def _delivery_events(db: Database, message_id: str) -> list[dict[str, Any]]:
    """The payloads of the message's events, each checked to be a DELIVERY with one delivery
    queued for the account's delivery-status webhook."""
    found = await _rows(db, events, events.c.message_id == message_id)
    for event in found:
        assert event.event_type == "DELIVERY"
        queued = await _rows(db, deliveries, deliveries.c.event_id == event.id)
        assert [d.status for d in queued] == ["pending"]
    return [json.loads(event.payload) for event in found]


def _report(
    *keys: str, status: MessageStatus | None = DELIVERED, error: str | None = None
) -> PartReport:
    return PartReport(keys, status, error)


async def test_a_single_part_receipt_delivers_the_message_once(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    message_id = await _accepted(smpp_hub, account_id, ["a1"])
    clock.advance(5)
    assert await smpp_hub.receipts.report(_report("a1")) is ReceiptOutcome.APPLIED
    message = await _message(smpp_hub.db, message_id)
    assert (message.status, message.delivered_at) == (DELIVERED, clock.now)
    (payload,) = await _delivery_events(smpp_hub.db, message_id)
    assert (payload["messageId"], payload["statusCode"], payload["status"]) == (
        message_id,
        3,
        "DELIVERED",
    )
    assert await _part_statuses(smpp_hub.db, message_id) == ["DELIVERED"]
    # The SMSC resends the receipt (it missed our acknowledgement): nothing more happens.
    assert await smpp_hub.receipts.report(_report("a1")) is ReceiptOutcome.IGNORED
    assert len(await _delivery_events(smpp_hub.db, message_id)) == 1


async def test_an_intermediate_receipt_changes_nothing(smpp_hub: Hub, account_id: str) -> None:
    message_id = await _accepted(smpp_hub, account_id, ["b1"])
    assert await smpp_hub.receipts.report(_report("b1", status=None)) is ReceiptOutcome.IGNORED
    assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT
    assert await _part_statuses(smpp_hub.db, message_id) == [None]
    assert await _rows(smpp_hub.db, events) == []
    assert await _rows(smpp_hub.db, early_receipts) == []  # matched: not kept
    # The final receipt still applies afterwards.
    assert await smpp_hub.receipts.report(_report("b1")) is ReceiptOutcome.APPLIED
    assert (await _message(smpp_hub.db, message_id)).status == DELIVERED


async def test_three_parts_are_delivered_only_once_every_part_is(
    smpp_hub: Hub, account_id: str
) -> None:
    message_id = await _accepted(smpp_hub, account_id, ["c0", "c1", "c2"])
    for key in ("c2", "c0"):  # in any order
        assert await smpp_hub.receipts.report(_report(key)) is ReceiptOutcome.APPLIED
        assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT
    assert await _rows(smpp_hub.db, events) == []
    assert await smpp_hub.receipts.report(_report("c0")) is ReceiptOutcome.IGNORED  # a repeat
    assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT
    assert await smpp_hub.receipts.report(_report("c1")) is ReceiptOutcome.APPLIED
    assert (await _message(smpp_hub.db, message_id)).status == DELIVERED
    assert [p["statusCode"] for p in await _delivery_events(smpp_hub.db, message_id)] == [3]
    assert await _part_statuses(smpp_hub.db, message_id) == ["DELIVERED"] * 3


async def test_three_parts_fail_at_the_first_failing_part(smpp_hub: Hub, account_id: str) -> None:
    message_id = await _accepted(smpp_hub, account_id, ["d0", "d1", "d2"])
    assert await smpp_hub.receipts.report(_report("d0")) is ReceiptOutcome.APPLIED
    failed = _report("d1", status=MessageStatus.ERROR, error=UNDELIV)
    assert await smpp_hub.receipts.report(failed) is ReceiptOutcome.APPLIED
    message = await _message(smpp_hub.db, message_id)
    assert (message.status, message.error) == (MessageStatus.ERROR, UNDELIV)
    (payload,) = await _delivery_events(smpp_hub.db, message_id)
    assert (payload["statusCode"], payload["error"]) == (6, UNDELIV)
    # The last part's receipt moves that part, never the message: ERROR is final.
    expired = _report("d2", status=MessageStatus.EXPIRED, error="carrier: EXPIRED")
    await smpp_hub.receipts.report(expired)
    message = await _message(smpp_hub.db, message_id)
    assert (message.status, message.error) == (MessageStatus.ERROR, UNDELIV)
    assert len(await _delivery_events(smpp_hub.db, message_id)) == 1
    assert await _part_statuses(smpp_hub.db, message_id) == ["DELIVERED", "ERROR", "EXPIRED"]


async def test_the_receipts_keys_are_tried_in_order(smpp_hub: Hub, account_id: str) -> None:
    first = await _accepted(smpp_hub, account_id, ["e1"])
    second = await _accepted(smpp_hub, account_id, ["e2"])
    # An unknown first key (the id as written) falls through to the second (its hex reading).
    assert await smpp_hub.receipts.report(_report("nope", "e1")) is ReceiptOutcome.APPLIED
    assert (await _message(smpp_hub.db, first)).status == DELIVERED
    assert await _rows(smpp_hub.db, early_receipts) == []
    # Both keys name a part: the first one, the most likely reading, wins.
    third = await _accepted(smpp_hub, account_id, ["e3"])
    assert await smpp_hub.receipts.report(_report("e2", "e3")) is ReceiptOutcome.APPLIED
    assert (await _message(smpp_hub.db, second)).status == DELIVERED
    assert (await _message(smpp_hub.db, third)).status == MessageStatus.SENT


async def test_reports_in_one_batch_apply_in_order(smpp_hub: Hub, account_id: str) -> None:
    single = await _accepted(smpp_hub, account_id, ["f1"])
    double = await _accepted(smpp_hub, account_id, ["f2", "f3"])
    batch = [_report("f1"), _report("f1"), _report("f2"), _report("f3"), _report("zz")]
    async with smpp_hub.db.transaction() as conn:
        outcomes = await apply_part_reports(conn, batch, now=smpp_hub.clock())
    assert outcomes == [
        ReceiptOutcome.APPLIED,
        ReceiptOutcome.IGNORED,
        ReceiptOutcome.APPLIED,
        ReceiptOutcome.APPLIED,
        ReceiptOutcome.UNMATCHED,
    ]
    assert (await _message(smpp_hub.db, single)).status == DELIVERED
    assert (await _message(smpp_hub.db, double)).status == DELIVERED
    assert len(await _delivery_events(smpp_hub.db, single)) == 1
    assert len(await _delivery_events(smpp_hub.db, double)) == 1


async def test_a_receipt_before_its_acceptance_is_kept_then_applied(
    smpp_hub: Hub, account_id: str
) -> None:
    submission = await _claimed(smpp_hub, account_id, 1)
    # The SMSC's receipt overtakes the record of its submit_sm_resp (another session).
    early = _report("g9", "99", status=DELIVERED)
    assert await smpp_hub.receipts.report(early) is ReceiptOutcome.UNMATCHED
    kept = await _rows(smpp_hub.db, early_receipts)
    assert sorted(row.carrier_key for row in kept) == ["99", "g9"]
    assert {row.receipt_id for row in kept} == {kept[0].receipt_id}
    assert (await _message(smpp_hub.db, submission.message.id)).status == MessageStatus.SENT
    # The acceptance names the receipt's second key: the kept receipt applies with it.
    await _accept(smpp_hub, submission, ["99"])
    message_id = submission.message.id
    assert (await _message(smpp_hub.db, message_id)).status == DELIVERED
    assert [p["statusCode"] for p in await _delivery_events(smpp_hub.db, message_id)] == [3]
    assert await _rows(smpp_hub.db, early_receipts) == []  # every key of it gone
    assert await smpp_hub.receipts.report(early) is ReceiptOutcome.IGNORED  # now a repeat


async def test_an_early_receipt_for_one_part_waits_for_the_others(
    smpp_hub: Hub, account_id: str
) -> None:
    submission = await _claimed(smpp_hub, account_id, 2)
    assert await smpp_hub.receipts.report(_report("h1")) is ReceiptOutcome.UNMATCHED
    await _accept(smpp_hub, submission, ["h0", "h1"])
    message_id = submission.message.id
    assert await _part_statuses(smpp_hub.db, message_id) == [None, "DELIVERED"]
    assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT
    assert await _rows(smpp_hub.db, early_receipts) == []
    assert await smpp_hub.receipts.report(_report("h0")) is ReceiptOutcome.APPLIED
    assert (await _message(smpp_hub.db, message_id)).status == DELIVERED


async def test_an_unclaimed_early_receipt_is_pruned_when_old(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    await smpp_hub.receipts.report(_report("old1", "old2"))
    clock.advance(60)
    await smpp_hub.receipts.report(_report("new1"))
    async with smpp_hub.db.transaction() as conn:
        pruned = await carrier_ids.prune_early(conn, clock.now - timedelta(seconds=30))
    assert pruned == 2  # the old receipt, under both its keys
    assert [row.carrier_key for row in await _rows(smpp_hub.db, early_receipts)] == ["new1"]
    # A pruned receipt is never applied: its acceptance finds nothing kept.
    message_id = await _accepted(smpp_hub, account_id, ["old1"])
    assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT


@pytest.mark.postgres
async def test_concurrent_receipts_on_two_parts_from_two_processes_deliver(
    postgres_url: str,
) -> None:
    clock = Clock()
    hub = Hub.build(make_settings(postgres_url, smpp_binds=BIND), clock=clock)
    first, second = Database.from_url(postgres_url), Database.from_url(postgres_url)
    try:
        account_id = (await hub.accounts.create("two-processes")).account_id
        message_id = await _accepted(hub, account_id, ["p0", "p1"])
        holding = asyncio.Event()
        release = asyncio.Event()

        async def apply_and_hold() -> list[ReceiptOutcome]:
            async with first.transaction() as conn:
                outcomes = await apply_part_reports(conn, [_report("p0")], now=clock.now)
                holding.set()
                await release.wait()  # commit only once the other process has read
            return outcomes

        async def apply_meanwhile() -> list[ReceiptOutcome]:
            await holding.wait()
            async with second.transaction() as conn:
                return await apply_part_reports(conn, [_report("p1")], now=clock.now)

        async def let_go() -> None:
            await holding.wait()
            await asyncio.sleep(0.2)  # the other process is waiting for the message's lock
            release.set()

        held, meanwhile, _ = await asyncio.gather(apply_and_hold(), apply_meanwhile(), let_go())
        assert (held, meanwhile) == ([ReceiptOutcome.APPLIED], [ReceiptOutcome.APPLIED])
        assert await _part_statuses(hub.db, message_id) == ["DELIVERED", "DELIVERED"]
        assert (await _message(hub.db, message_id)).status == DELIVERED
        assert len(await _rows(hub.db, events, events.c.message_id == message_id)) == 1
    finally:
        for db in (first, second, hub.db):
            await db.dispose()


async def test_a_reused_carrier_id_reports_on_the_newest_part(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    older = await _accepted(smpp_hub, account_id, ["r1"])
    assert await smpp_hub.receipts.report(_report("r1")) is ReceiptOutcome.APPLIED
    clock.advance(3600)
    # The SMSC's ids wrapped around: a later message was accepted under the same id.
    newer = await _accepted(smpp_hub, account_id, ["r1"])
    failed = _report("r1", status=MessageStatus.ERROR, error=UNDELIV)
    assert await smpp_hub.receipts.report(failed) is ReceiptOutcome.APPLIED
    assert (await _message(smpp_hub.db, older)).status == DELIVERED
    assert (await _message(smpp_hub.db, newer)).status == MessageStatus.ERROR
