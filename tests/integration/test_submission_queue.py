"""The connectors' durable submission queue (SPEC §11, issue 11): a real SMS is queued in its
send's transaction, claimed under a lease, and each carrier answer (accepted, refused for good,
refused for now) recorded as the SPEC says. Both databases; a clock the test moves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Table, select

from dlrhub.domain.errors import Unprocessable
from dlrhub.domain.sending import SendFields
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.services.submissions import AcceptedPart, Submissions, SubmitOutcome
from dlrhub.store import submissions as submission_store
from dlrhub.store.database import Database
from dlrhub.store.schema import carrier_parts, deliveries, events, messages, submissions
from dlrhub.store.submissions import Submission
from dlrhub.wiring.hub import Hub
from tests.support.stack import make_settings

BIND = "smpp://a:b@127.0.0.1:1"
DESTINATION = "+393401234567"
LEASE = timedelta(seconds=30)
TWO_PARTS = "a" * 161  # GSM 03.38: 153 characters per concatenated part


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
    """A hub with one SMPP bind configured: non-simulated SMS are accepted and queued."""
    hub = Hub.build(make_settings(db_url, smpp_binds=BIND), clock=clock)
    try:
        yield hub
    finally:
        await hub.db.dispose()


@pytest.fixture
async def account_id(smpp_hub: Hub) -> str:
    return (await smpp_hub.accounts.create("queue-test")).account_id


async def _send(hub: Hub, account_id: str, body: str = "hello", *, simulation: bool = False) -> str:
    fields = SendFields(Channel.SMS, DESTINATION, body, simulation=simulation)
    return (await hub.messaging.send(account_id, fields, None)).message.id


async def _rows(db: Database, table: Table, *where: ColumnElement[bool]) -> list[Any]:
    async with db.reading() as conn:
        return list(await conn.execute(select(table).where(*where)))


async def _submission_row(db: Database, message_id: str) -> Any:
    rows = await _rows(db, submissions, submissions.c.message_id == message_id)
    return rows[0] if rows else None


async def _message(db: Database, message_id: str) -> Any:
    (row,) = await _rows(db, messages, messages.c.id == message_id)
    return row


async def _claim(hub: Hub, worker: str, limit: int = 10) -> list[Submission]:
    return await hub.submissions.claim(Channel.SMS, worker=worker, limit=limit, lease=LEASE)


async def _claim_one(hub: Hub, message_id: str) -> Submission:
    claimed = await _claim(hub, "w1")
    assert [s.message.id for s in claimed] == [message_id]
    return claimed[0]


def _part(index: int, carrier_id: str) -> AcceptedPart:
    return AcceptedPart(index, carrier_id, carrier_id.lower())


async def test_a_real_sms_is_stored_sent_with_its_submission(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    real = await _send(smpp_hub, account_id)
    message = await _message(smpp_hub.db, real)
    assert message.status == MessageStatus.SENT
    assert message.simulation is False
    row = await _submission_row(smpp_hub.db, real)
    assert row is not None
    assert (row.channel, row.tries, row.first_tried_at) == ("SMS", 0, None)
    assert row.next_attempt_at == clock.now  # due at once
    assert (row.lease_expires_at, row.leased_by) == (None, None)


async def test_a_simulated_sms_is_not_queued(smpp_hub: Hub, account_id: str) -> None:
    # Sent together, so that they may share one group-commit transaction.
    simulated, real = await asyncio.gather(
        _send(smpp_hub, account_id, simulation=True), _send(smpp_hub, account_id)
    )
    assert await _submission_row(smpp_hub.db, simulated) is None
    assert await _submission_row(smpp_hub.db, real) is not None


async def test_the_submission_is_written_in_the_sends_transaction(
    smpp_hub: Hub, account_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_queue(*_args: object, **_kwargs: object) -> None:
        raise ConnectionResetError("the queue write failed")

    monkeypatch.setattr(submission_store, "queue", failing_queue)
    with pytest.raises(ConnectionResetError):
        await _send(smpp_hub, account_id)
    # The message went with its queue row: no SENT message waits for a hand-over never queued.
    assert await _rows(smpp_hub.db, messages) == []


async def test_without_binds_a_real_sms_is_unprocessable(db_url: str) -> None:
    hub = Hub.build(make_settings(db_url))
    try:
        account_id = (await hub.accounts.create("no-binds")).account_id
        with pytest.raises(Unprocessable, match="DLRHUB_SMPP_BINDS"):
            await _send(hub, account_id)
        assert await _rows(hub.db, messages) == []
        assert await _rows(hub.db, submissions) == []
        await _send(hub, account_id, simulation=True)  # simulation is unaffected
    finally:
        await hub.db.dispose()


async def test_workers_claim_disjoint_submissions_under_a_lease(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    sent = {await _send(smpp_hub, account_id) for _ in range(4)}
    first = await _claim(smpp_hub, "w1", limit=2)
    second = await _claim(smpp_hub, "w2", limit=10)
    assert len(first) == 2
    assert len(second) == 2
    assert {s.message.id for s in first} | {s.message.id for s in second} == sent
    assert all(s.tries == 0 and s.first_tried_at is None for s in first + second)
    for submission in first:
        row = await _submission_row(smpp_hub.db, submission.message.id)
        assert (row.leased_by, row.lease_expires_at) == ("w1", clock.now + LEASE)
    assert await _claim(smpp_hub, "w3") == []
    clock.advance(LEASE.total_seconds() - 1)
    assert await _claim(smpp_hub, "w3") == []  # every lease still runs
    clock.advance(2)
    # The leases ran out (their workers died): another worker takes every one over.
    taken_over = await _claim(smpp_hub, "w3")
    assert {s.message.id for s in taken_over} == sent
    assert {row.leased_by for row in await _rows(smpp_hub.db, submissions)} == {"w3"}


@pytest.mark.postgres
async def test_concurrent_claims_from_two_processes_are_disjoint(postgres_url: str) -> None:
    clock = Clock()
    hubs = [Hub.build(make_settings(postgres_url, smpp_binds=BIND), clock=clock) for _ in "ab"]
    try:
        account_id = (await hubs[0].accounts.create("two-claimers")).account_id
        sent = {await _send(hubs[0], account_id) for _ in range(40)}
        claims = await asyncio.gather(
            *(_claim(hub, f"w{n}", limit=5) for n in range(8) for hub in hubs)
        )
        claimed = [s.message.id for batch in claims for s in batch]
        assert len(claimed) == len(set(claimed)) == 40
        assert set(claimed) == sent
    finally:
        for hub in hubs:
            await hub.db.dispose()


async def test_accepted_stores_each_part_and_ends_the_submission(
    smpp_hub: Hub, account_id: str
) -> None:
    message_id = await _send(smpp_hub, account_id, TWO_PARTS)
    submission = await _claim_one(smpp_hub, message_id)
    assert submission.message.total_parts == 2
    decision = await smpp_hub.submissions.record(
        SubmitOutcome(submission, SubmitAnswer.ACCEPTED, "", (_part(0, "AB01"), _part(1, "AB02")))
    )
    assert (decision.answer, decision.retry_at, decision.error) == (
        SubmitAnswer.ACCEPTED,
        None,
        None,
    )
    parts = await _rows(smpp_hub.db, carrier_parts, carrier_parts.c.message_id == message_id)
    got = sorted((p.part_index, p.carrier_message_id, p.carrier_key, p.status) for p in parts)
    assert got == [(0, "AB01", "ab01", None), (1, "AB02", "ab02", None)]
    assert await _submission_row(smpp_hub.db, message_id) is None
    assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT
    assert await _rows(smpp_hub.db, events) == []  # accepted is no event: the receipt is
    assert await smpp_hub.submissions.accepted_parts(message_id) == {0: "AB01", 1: "AB02"}


async def test_refused_for_good_is_an_error_with_a_delivery_6(
    smpp_hub: Hub, account_id: str
) -> None:
    hook = await smpp_hub.delivery_status.create(account_id, "https://127.0.0.1:9/hook")
    message_id = await _send(smpp_hub, account_id)
    submission = await _claim_one(smpp_hub, message_id)
    reason = "ESME_RINVDSTADR (0x0000000b)"
    decision = await smpp_hub.submissions.record(
        SubmitOutcome(submission, SubmitAnswer.REFUSED, reason)
    )
    assert (decision.answer, decision.retry_at, decision.error) == (
        SubmitAnswer.REFUSED,
        None,
        reason,
    )
    message = await _message(smpp_hub.db, message_id)
    assert (message.status, message.error) == (MessageStatus.ERROR, reason)
    assert await _submission_row(smpp_hub.db, message_id) is None
    await _assert_one_delivery_6(smpp_hub.db, message_id, hook.id, reason)


async def _assert_one_delivery_6(db: Database, message_id: str, hook_id: str, error: str) -> None:
    (event,) = await _rows(db, events)
    assert (event.event_type, event.message_id) == ("DELIVERY", message_id)
    payload = json.loads(event.payload)
    assert payload["messageId"] == message_id
    assert (payload["statusCode"], payload["status"], payload["error"]) == (6, "ERROR", error)
    (delivery,) = await _rows(db, deliveries)
    assert (delivery.event_id, delivery.webhook_id) == (event.id, hook_id)
    assert delivery.status == "pending"


async def test_refused_for_now_backs_off_and_keeps_the_parts_accepted(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    message_id = await _send(smpp_hub, account_id, TWO_PARTS)
    started = clock.now
    submission = await _claim_one(smpp_hub, message_id)
    # The first part was accepted, the second throttled.
    decision = await smpp_hub.submissions.record(
        SubmitOutcome(submission, SubmitAnswer.TRY_LATER, "ESME_RTHROTTLED", (_part(0, "C0"),))
    )
    assert (decision.answer, decision.retry_at) == (
        SubmitAnswer.TRY_LATER,
        started + timedelta(seconds=1),
    )
    row = await _submission_row(smpp_hub.db, message_id)
    assert (row.tries, row.first_tried_at, row.last_error) == (1, started, "ESME_RTHROTTLED")
    assert row.next_attempt_at == started + timedelta(seconds=1)
    assert (row.lease_expires_at, row.leased_by) == (None, None)  # released, not leased on
    assert await smpp_hub.submissions.accepted_parts(message_id) == {0: "C0"}
    assert await _claim(smpp_hub, "w2") == []  # not due yet
    clock.advance(1)
    again = await _claim_one(smpp_hub, message_id)
    assert (again.tries, again.first_tried_at) == (1, started)
    decision = await smpp_hub.submissions.record(
        SubmitOutcome(again, SubmitAnswer.TRY_LATER, "ESME_RMSGQFUL")
    )
    assert decision.retry_at == clock.now + timedelta(seconds=2)  # doubled
    row = await _submission_row(smpp_hub.db, message_id)
    assert (row.tries, row.first_tried_at, row.last_error) == (2, started, "ESME_RMSGQFUL")
    clock.advance(1)
    assert await _claim(smpp_hub, "w2") == []
    clock.advance(1)
    third = await _claim_one(smpp_hub, message_id)
    assert third.tries == 2
    await smpp_hub.submissions.record(
        SubmitOutcome(third, SubmitAnswer.ACCEPTED, "", (_part(1, "C1"),))
    )
    assert await smpp_hub.submissions.accepted_parts(message_id) == {0: "C0", 1: "C1"}
    assert await _submission_row(smpp_hub.db, message_id) is None
    assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT


async def test_refused_for_now_past_the_give_up_time_is_an_error(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    hook = await smpp_hub.delivery_status.create(account_id, "https://127.0.0.1:9/hook")
    patient = Submissions(smpp_hub.db, smpp_hub.signals, clock, give_up_after=timedelta(seconds=3))
    message_id = await _send(smpp_hub, account_id)

    async def try_later() -> datetime | None:
        (submission,) = await patient.claim(Channel.SMS, worker="w", limit=10, lease=LEASE)
        outcome = SubmitOutcome(submission, SubmitAnswer.TRY_LATER, "ESME_RTHROTTLED")
        decision = await patient.record(outcome)
        return decision.retry_at

    started = clock.now
    assert await try_later() == started + timedelta(seconds=1)
    clock.advance(1)
    # Due again at started + 3 s: exactly the give-up time, so still tried.
    assert await try_later() == started + timedelta(seconds=3)
    assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT
    clock.advance(2)
    assert await try_later() is None  # the next try would be past the give-up time
    message = await _message(smpp_hub.db, message_id)
    error = "not accepted by the carrier: ESME_RTHROTTLED"
    assert (message.status, message.error) == (MessageStatus.ERROR, error)
    assert await _submission_row(smpp_hub.db, message_id) is None
    await _assert_one_delivery_6(smpp_hub.db, message_id, hook.id, error)


async def test_release_gives_back_only_the_workers_own_leases(
    smpp_hub: Hub, account_id: str
) -> None:
    message_id = await _send(smpp_hub, account_id)
    await _claim_one(smpp_hub, message_id)
    await smpp_hub.submissions.release([message_id], "someone-else")
    assert await _claim(smpp_hub, "w2") == []
    await smpp_hub.submissions.release([message_id], "w1")
    assert [s.message.id for s in await _claim(smpp_hub, "w2")] == [message_id]


async def test_a_second_acceptance_after_a_lapsed_lease_keeps_the_first(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    message_id = await _send(smpp_hub, account_id)
    slow = await _claim_one(smpp_hub, message_id)
    clock.advance(LEASE.total_seconds() + 1)
    # The first worker's SMSC answered after its lease ran out: another worker submitted the
    # message again (the duplicate window of SPEC §11), and both copies were accepted.
    retaken = await _claim(smpp_hub, "w2")
    assert [s.message.id for s in retaken] == [message_id]
    first = SubmitOutcome(slow, SubmitAnswer.ACCEPTED, "", (_part(0, "X1"),))
    second = SubmitOutcome(retaken[0], SubmitAnswer.ACCEPTED, "", (_part(0, "Y1"),))
    assert (await smpp_hub.submissions.record(first)).answer is SubmitAnswer.ACCEPTED
    assert (await smpp_hub.submissions.record(second)).answer is SubmitAnswer.ACCEPTED
    assert await smpp_hub.submissions.accepted_parts(message_id) == {0: "X1"}
    assert await _submission_row(smpp_hub.db, message_id) is None
    assert (await _message(smpp_hub.db, message_id)).status == MessageStatus.SENT


async def test_earliest_due_and_depth_follow_the_queue(
    smpp_hub: Hub, account_id: str, clock: Clock
) -> None:
    async def due_and_depth() -> tuple[datetime | None, dict[str, int]]:
        async with smpp_hub.db.reading() as conn:
            due = await submission_store.earliest_due(conn, Channel.SMS)
            return due, await submission_store.depth(conn)

    assert await due_and_depth() == (None, {})
    message_id = await _send(smpp_hub, account_id)
    assert await due_and_depth() == (clock.now, {"SMS": 1})
    submission = await _claim_one(smpp_hub, message_id)
    assert await due_and_depth() == (clock.now + LEASE, {"SMS": 1})  # due again if w1 dies
    await smpp_hub.submissions.record(SubmitOutcome(submission, SubmitAnswer.TRY_LATER, "busy"))
    assert await due_and_depth() == (clock.now + timedelta(seconds=1), {"SMS": 1})
