"""Deliveries handed straight to this process's dispatcher (issue 10, services/handover.py),
on both databases: the job handed over is exactly what a claim would load, the rows are
leased to that dispatcher in the transaction that queues them, what it refuses is queued for
anyone, and a lease whose holder died is claimed by another worker once it runs out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dlrhub.delivery.dispatcher import Dispatcher
from dlrhub.domain.status import MessageStatus
from dlrhub.runtime import dispatcher_config
from dlrhub.services.carrier_report_batcher import CarrierReportBatcher
from dlrhub.services.simulation import SimulatedReports
from dlrhub.services.status_changes import CarrierReport, CarrierReportOutcome
from dlrhub.store import deliveries as delivery_store
from dlrhub.store.records import DeliveryJob
from dlrhub.store.schema import deliveries, webhooks
from tests.support.faulty_db import FaultyDatabase
from tests.support.stack import Stack, stack
from tests.support.waiting import wait_until

LEASE = timedelta(seconds=30)


@dataclass
class FakeDispatcher:
    """A taker that keeps what it is handed, with room for `rooms[webhook]` deliveries per
    webhook (none for the others) and `total` in all."""

    rooms: dict[str, int]
    total: int = 1000
    worker_id: str = "fake-worker"
    lease: timedelta = LEASE
    taken: list[DeliveryJob] = field(default_factory=list)

    def room(self) -> int:
        return self.total

    def room_for(self, webhook_id: str) -> int:
        return self.rooms.get(webhook_id, 0)

    def take(self, jobs: Sequence[DeliveryJob]) -> None:
        self.taken.extend(jobs)


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[Stack]:
    async with stack(db_url) as built:  # no workers: the test runs the simulator's steps
        yield built


def _simulator(app: Stack) -> SimulatedReports:
    return SimulatedReports(app.hub.db, app.hub.clock, delay=timedelta(0), batch=100)


async def _rows(app: Stack) -> dict[str, tuple[str | None, object]]:
    async with app.hub.db.reading() as conn:
        rows = await conn.execute(
            select(deliveries.c.id, deliveries.c.leased_by, deliveries.c.lease_expires_at)
        )
        return {row.id: (row.leased_by, row.lease_expires_at) for row in rows}


async def test_the_job_handed_over_is_what_a_claim_would_load(app: Stack) -> None:
    key = await app.new_account()
    await app.register(key, "https://127.0.0.1:9/hook")
    sent = [await app.send(key, destination=f"+39340123456{i}", messageId=f"m{i}") for i in "12"]
    (webhook_id,) = {row.webhook_id for row in await _webhooks(app)}
    taker = FakeDispatcher(rooms={webhook_id: 10})

    stepped, queued = await _simulator(app).step(taker)

    assert (stepped, queued) == (2, False)  # nothing queued for others: all handed over
    assert len(taker.taken) == 2
    async with app.hub.db.reading() as conn:
        loaded = await delivery_store.load_jobs(
            conn, [job.delivery_id for job in taker.taken], app.hub.clock()
        )
    by_id = {job.delivery_id: job for job in loaded}
    assert [by_id[job.delivery_id] for job in taker.taken] == taker.taken
    handed = {json.loads(job.payload)["messageId"] for job in taker.taken}
    assert handed == {s["messageId"] for s in sent}
    rows = await _rows(app)
    assert {leased_by for leased_by, _ in rows.values()} == {"fake-worker"}
    for _, expires in rows.values():
        assert expires is not None


async def test_a_webhook_the_dispatcher_refuses_is_queued_for_any_worker(app: Stack) -> None:
    key = await app.new_account()
    await app.register(key, "https://127.0.0.1:9/hook")
    await app.send(key, destination="+393401234567")
    taker = FakeDispatcher(rooms={})  # e.g. the webhook is paused or at its cap

    stepped, queued = await _simulator(app).step(taker)

    assert (stepped, queued) == (1, True)
    assert taker.taken == []
    assert [leased_by for leased_by, _ in (await _rows(app)).values()] == [None]
    now = app.hub.clock()
    async with app.hub.db.transaction() as conn:
        claimed = await delivery_store.claim_due(
            conn, now=now, lease_until=now + LEASE, worker="other", limit=10
        )
    assert len(claimed) == 1


@pytest.mark.parametrize(("per_webhook", "in_all"), [(2, 1000), (1000, 2)])
async def test_only_as_many_as_the_dispatcher_has_room_for_are_handed_over(
    app: Stack, per_webhook: int, in_all: int
) -> None:
    key = await app.new_account()
    await app.register(key, "https://127.0.0.1:9/hook")
    for i in range(3):
        await app.send(key, destination=f"+39340123456{i}")
    (webhook_id,) = {row.webhook_id for row in await _webhooks(app)}
    taker = FakeDispatcher(rooms={webhook_id: per_webhook}, total=in_all)

    stepped, queued = await _simulator(app).step(taker)

    assert (stepped, queued) == (3, True)  # the third is queued for any worker
    assert len(taker.taken) == 2
    rows = await _rows(app)
    assert sorted(leased_by or "" for leased_by, _ in rows.values()) == [
        "",
        "fake-worker",
        "fake-worker",
    ]
    leased = {id_ for id_, (leased_by, _) in rows.items() if leased_by}
    assert leased == {job.delivery_id for job in taker.taken}


async def test_a_lease_whose_holder_died_is_claimed_by_another_worker_once_it_runs_out(
    app: Stack,
) -> None:
    key = await app.new_account()
    await app.register(key, "https://127.0.0.1:9/hook")
    await app.send(key, destination="+393401234567")
    (webhook_id,) = {row.webhook_id for row in await _webhooks(app)}
    taker = FakeDispatcher(rooms={webhook_id: 10})
    await _simulator(app).step(taker)  # handed over; then its process "dies" with it
    assert len(taker.taken) == 1

    async def claim(at_offset: timedelta) -> list[str]:
        at = app.hub.clock() + at_offset
        async with app.hub.db.transaction() as conn:
            return await delivery_store.claim_due(
                conn, now=at, lease_until=at + LEASE, worker="survivor", limit=10
            )

    assert await claim(timedelta(seconds=1)) == []  # still leased to the dead worker
    assert await claim(LEASE + timedelta(seconds=1)) == [taker.taken[0].delivery_id]


async def test_a_stopped_dispatcher_accepts_nothing_and_gives_back_what_comes_late(
    app: Stack,
) -> None:
    key = await app.new_account()
    await app.register(key, "https://127.0.0.1:9/hook")
    await app.send(key, destination="+393401234567")
    (webhook_id,) = {row.webhook_id for row in await _webhooks(app)}
    async with app.hub.http.session() as client:
        dispatcher = Dispatcher(
            db=app.hub.db,
            signals=app.hub.signals,
            clock=app.hub.clock,
            client=client,
            config=dispatcher_config(app.hub.settings),
            worker_id="stopping",
        )
        stop = asyncio.Event()
        running = asyncio.create_task(dispatcher.run(stop))
        assert dispatcher.room() > 0
        assert dispatcher.room_for(webhook_id) > 0
        stop.set()
        await running
        assert (dispatcher.room(), dispatcher.room_for(webhook_id)) == (0, 0)
        # A transaction that leased to it committed just as it stopped: given back at once.
        leased = FakeDispatcher(rooms={webhook_id: 10}, worker_id="stopping")
        await _simulator(app).step(leased)
        dispatcher.take(leased.taken)
        await wait_until(lambda: _released(app), what="the late delivery given back to the queue")


async def _released(app: Stack) -> bool | None:
    """True once the one delivery is leased to nobody (None: not yet, keep waiting)."""
    return [leased_by for leased_by, _ in (await _rows(app)).values()] == [None] or None


async def _webhooks(app: Stack) -> list[Any]:
    async with app.hub.db.reading() as conn:
        return list(await conn.execute(select(webhooks.c.id.label("webhook_id"))))


async def test_carrier_reports_hand_their_deliveries_over_once_each(app: Stack) -> None:
    key = await app.new_account()
    await app.register(key, "https://127.0.0.1:9/hook")
    sent = [await app.send(key, destination=f"+39340123456{i}") for i in range(3)]
    (webhook_id,) = {row.webhook_id for row in await _webhooks(app)}
    # The first transaction breaks: the batch is written again report by report.
    batcher = CarrierReportBatcher(
        FaultyDatabase(app.hub.db.engine, failing_transactions=1), app.hub.signals, app.hub.clock
    )
    batcher.taker = taker = FakeDispatcher(rooms={webhook_id: 10})
    outcomes = await asyncio.gather(
        *(batcher.submit(CarrierReport(s["messageId"], MessageStatus.DELIVERED)) for s in sent)
    )
    assert outcomes == [CarrierReportOutcome.APPLIED] * 3
    handed = sorted(json.loads(job.payload)["messageId"] for job in taker.taken)
    assert handed == sorted(s["messageId"] for s in sent)
    rows = await _rows(app)
    assert sorted(job.delivery_id for job in taker.taken) == sorted(rows)
    assert {leased_by for leased_by, _ in rows.values()} == {"fake-worker"}
