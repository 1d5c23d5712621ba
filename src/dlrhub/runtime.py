"""The background half of a process: dispatcher and simulator, started and stopped together."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta

import structlog

from dlrhub.carriers.simulator import Simulator
from dlrhub.config import Settings
from dlrhub.delivery.dispatcher import Dispatcher, DispatcherConfig
from dlrhub.metrics import Metrics
from dlrhub.services.receipt_timeouts import ReceiptTimeouts
from dlrhub.services.retention import Retention
from dlrhub.wiring.carriers import carriers_of
from dlrhub.wiring.hub import Hub

log = structlog.get_logger(__name__)


class Workers:
    """Runs until `stop()`; then finishes or releases in-flight work before returning."""

    def __init__(self, hub: Hub, metrics: Metrics | None = None) -> None:
        self._hub = hub
        self.metrics = metrics or Metrics()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        hub = self._hub
        settings = hub.settings
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        # The deliveries' client, shared with the API in this process ("test webhook" has its
        # own: hub.test_http).
        async with hub.http.session() as client:
            dispatcher = Dispatcher(
                db=hub.db,
                signals=hub.signals,
                clock=hub.clock,
                client=client,
                config=dispatcher_config(settings),
                worker_id=worker_id,
                metrics=self.metrics,
            )
            simulator = Simulator(
                db=hub.db,
                signals=hub.signals,
                clock=hub.clock,
                delay=timedelta(milliseconds=settings.simulator_delay_ms),
                poll_interval_s=settings.poll_interval_s,
                taker=dispatcher,
            )
            hub.carrier.hand_deliveries_to(dispatcher)
            hub.receipts.taker = dispatcher
            hub.submissions.taker = dispatcher
            log.info("workers started", worker_id=worker_id)
            # Retention runs beside them, in every process that runs workers (SPEC §15).
            retention = Retention.from_settings(hub.db, hub.clock, settings)
            await asyncio.gather(
                dispatcher.run(self._stop),
                simulator.run(self._stop),
                retention.run(self._stop),
                ReceiptTimeouts.of(hub).run(self._stop),  # docs/receipt-timeouts.md
                hub.event_feed.run(self._stop),  # catch-up positions (docs/catch-up.md)
                carriers_of(self._hub, self.metrics, worker_id).run(self._stop),
                # Other processes (API nodes, other workers) queue work too: wake on their
                # notifications (on SQLite there are none: workers there poll).
                hub.db.listen(hub.signals, self._stop),
            )
        log.info("workers stopped", worker_id=worker_id)


def dispatcher_config(settings: Settings) -> DispatcherConfig:
    """The dispatcher's part of the settings."""
    return DispatcherConfig(
        retry_schedule=settings.retry_schedule,
        delivery_timeout_s=settings.delivery_timeout_s,
        lease_s=settings.lease_s,
        poll_interval_s=settings.poll_interval_s,
        claim_batch=settings.claim_batch,
        max_in_flight=settings.max_in_flight,
        max_in_flight_per_webhook=settings.max_in_flight_per_webhook,
        initial_in_flight_per_webhook=settings.initial_in_flight_per_webhook,
        circuit_threshold=settings.circuit_threshold,
        circuit_cooldown_s=settings.circuit_cooldown_s,
        circuit_max_cooldown_s=settings.circuit_max_cooldown_s,
        disable_after_s=settings.disable_after_s,
        warn_after_s=settings.warn_after_s,
    )
