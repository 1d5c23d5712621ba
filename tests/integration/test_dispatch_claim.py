"""A claim that cannot load what it leased gives the leases back at once (both databases):
the deliveries go out on the next claim, not after the lease expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.delivery.dispatcher import Dispatcher
from dlrhub.domain.status import Channel
from dlrhub.services.hub import Hub
from dlrhub.store.database import Database
from tests.conftest import make_settings
from tests.support.receiver import Receiver
from tests.support.tls import make_tls


class FailsFirstRead(Database):
    """A database whose first read breaks (a connection lost between claim and load)."""

    failures = 1

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        if self.failures:
            self.failures -= 1
            raise ConnectionResetError("the connection was lost")
        async with super().reading() as conn:
            yield conn


class SlowWrites(Database):
    """Every write transaction takes a while: attempts in flight finish during a claim."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        await asyncio.sleep(0.1)
        async with super().transaction() as conn:
            yield conn


async def test_leases_are_given_back_when_loading_fails(db_url: str, tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    # A lease far longer than the test: only giving it back lets the delivery go out.
    hub = Hub.build(make_settings(db_url, ca_bundle=tls.ca_pem_path, lease_s=600))
    flaky = FailsFirstRead(hub.db.engine)
    stop = asyncio.Event()
    try:
        with Receiver(tls) as receiver:
            created = await hub.accounts.create("claim-test")
            await hub.delivery_status.create(created.account_id, f"{receiver.url}/hook")
            await hub.messaging.receive_inbound(
                created.account_id,
                source="+393401234567",
                destination="+393409876543",
                channel=Channel.SMS,
                text="hello",
            )
            async with hub.http.session() as client:
                dispatcher = Dispatcher(
                    db=flaky,
                    signals=hub.signals,
                    clock=hub.clock,
                    client=client,
                    settings=hub.settings,
                    worker_id="test-worker",
                )
                running = asyncio.create_task(dispatcher.run(stop))
                try:
                    arrived = await receiver.await_for(1, timeout=10)
                finally:
                    stop.set()
                    await running
            assert flaky.failures == 0, "the load never failed: the test proved nothing"
            assert len(arrived) == 1
    finally:
        await hub.db.dispose()


async def test_a_backlog_bigger_than_the_hold_cap_flows_without_waiting_for_the_poll(
    db_url: str, tmp_path: Path
) -> None:
    """A claim that leaves out a webhook at its hold cap must claim for it again as soon as
    it has room, not a poll interval later (once, a whole backlog moved 1,000 per second:
    the webhook had room again by the time the claim returned, and was forgotten)."""
    tls = make_tls(tmp_path)
    settings = make_settings(
        db_url,
        ca_bundle=tls.ca_pem_path,
        poll_interval_s=30,  # longer than the test: waiting for it would fail the test
        max_in_flight_per_webhook=2,
        initial_in_flight_per_webhook=2,
        claim_batch=20,  # more than the hold cap: the next claim leaves the webhook out
    )
    hub = Hub.build(settings)
    stop = asyncio.Event()
    try:
        with Receiver(tls) as receiver:
            created = await hub.accounts.create("backlog-test")
            await hub.delivery_status.create(created.account_id, f"{receiver.url}/hook")
            for i in range(80):  # the worker may hold 16 of them (8 x 2 in flight)
                await hub.messaging.receive_inbound(
                    created.account_id,
                    source=f"+3934012{i:05d}",
                    destination="+393409876543",
                    channel=Channel.SMS,
                    text="hello",
                )
            async with hub.http.session() as client:
                dispatcher = Dispatcher(
                    db=SlowWrites(hub.db.engine),
                    signals=hub.signals,
                    clock=hub.clock,
                    client=client,
                    settings=settings,
                    worker_id="test-worker",
                )
                running = asyncio.create_task(dispatcher.run(stop))
                try:
                    arrived = await receiver.await_for(80, timeout=20)
                finally:
                    stop.set()
                    await running
            assert len({r.header("webhook-id") for r in arrived}) == 80
    finally:
        await hub.db.dispose()
