"""Claims under faults (both databases): a claim that cannot load what it leased gives the
leases back at once, and a webhook a claim left out is claimed again as soon as it has room."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from dlrhub.delivery.dispatcher import Dispatcher
from dlrhub.domain.status import Channel
from dlrhub.runtime import dispatcher_config
from dlrhub.store.database import Database
from dlrhub.wiring.hub import Hub
from tests.support.faulty_db import FaultyDatabase
from tests.support.receiver import ReceivedRequest, Receiver
from tests.support.stack import make_settings
from tests.support.tls import make_tls


async def _delivered(
    db_url: str, tmp_path: Path, events: int, faults: dict[str, Any], **overrides: Any
) -> tuple[list[ReceivedRequest], FaultyDatabase]:
    """Queue `events` inbound events for one webhook, run a dispatcher on a database with
    `faults` until they have all arrived (20 s at most), and return what arrived."""
    tls = make_tls(tmp_path)
    hub = Hub.build(make_settings(db_url, ca_bundle=tls.ca_pem_path, **overrides))
    db = FaultyDatabase(hub.db.engine, **faults)
    stop = asyncio.Event()
    try:
        with Receiver(tls) as receiver:
            created = await hub.accounts.create("claim-test")
            await hub.delivery_status.create(created.account_id, f"{receiver.url}/hook")
            for i in range(events):
                await hub.messaging.receive_inbound(
                    created.account_id,
                    source=f"+3934012{i:05d}",
                    destination="+393409876543",
                    channel=Channel.SMS,
                    text="hello",
                )
            async with hub.http.session() as client:
                running = asyncio.create_task(_dispatcher(hub, db, client).run(stop))
                try:
                    return await receiver.await_for(events, timeout=20), db
                finally:
                    stop.set()
                    await running
    finally:
        await hub.db.dispose()


def _dispatcher(hub: Hub, db: Database, client: Any) -> Dispatcher:
    return Dispatcher(
        db=db,
        signals=hub.signals,
        clock=hub.clock,
        client=client,
        config=dispatcher_config(hub.settings),
        worker_id="test-worker",
    )


async def test_leases_are_given_back_when_loading_fails(db_url: str, tmp_path: Path) -> None:
    # A lease far longer than the test: only giving it back lets the delivery go out.
    arrived, db = await _delivered(db_url, tmp_path, 1, {"failing_reads": 1}, lease_s=600)
    assert db.failing_reads == 0, "the load never failed: the test proved nothing"
    assert len(arrived) == 1


async def test_a_backlog_bigger_than_the_hold_cap_flows_without_waiting_for_the_poll(
    db_url: str, tmp_path: Path
) -> None:
    """A claim that leaves out a webhook at its hold cap must claim for it again as soon as
    it has room, not a poll interval later (once, a whole backlog moved 1,000 per second:
    the webhook had room again by the time the claim returned, and was forgotten)."""
    arrived, _ = await _delivered(
        db_url,
        tmp_path,
        80,  # the worker may hold 16 of them (8 x 2 in flight)
        # Slow writes: the attempts in flight finish while a claim runs.
        {"write_delay_s": 0.1},
        poll_interval_s=30,  # longer than the test: waiting for it would fail the test
        max_in_flight_per_webhook=2,
        initial_in_flight_per_webhook=2,
        claim_batch=20,  # more than the hold cap: the next claim leaves the webhook out
    )
    assert len({r.header("webhook-id") for r in arrived}) == 80
