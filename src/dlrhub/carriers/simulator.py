"""The simulator: a carrier connector with deterministic outcomes (SPEC §10).

It decides when to run; what a run does (claim the due steps, report their outcomes through
the batched report path, schedule what follows) is services/simulation.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from dlrhub.domain.clock import Clock
from dlrhub.services.handover import DeliveryTaker
from dlrhub.services.simulation import SimulatedReports
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals, wait_for_any

log = structlog.get_logger(__name__)


class Simulator:
    def __init__(
        self,
        *,
        db: Database,
        signals: Signals,
        clock: Clock,
        delay: timedelta,
        poll_interval_s: float,
        batch: int = 200,
        taker: DeliveryTaker | None = None,
    ) -> None:
        self._reports = SimulatedReports(db, clock, delay=delay, batch=batch)
        # This process's dispatcher: the deliveries of reported outcomes go straight to it.
        self._taker = taker
        self._signals = signals
        self._poll_interval_s = poll_interval_s
        self._batch = batch

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._signals.simulation.clear()
            try:
                stepped = await self.step()
            except Exception:
                log.exception("simulator step failed")
                stepped = 0
            if stepped < self._batch:
                await self._idle(stop)

    async def step(self) -> int:
        """Report every due simulated outcome; returns how many steps were taken."""
        stepped, queued = await self._reports.step(self._taker)
        if queued:
            self._signals.deliveries_queued()
        return stepped

    async def _idle(self, stop: asyncio.Event) -> None:
        timeout = self._poll_interval_s
        with contextlib.suppress(Exception):
            due_in = await self._reports.seconds_to_next()
            if due_in is not None:
                timeout = min(timeout, due_in)
        if timeout <= 0:
            return
        await wait_for_any([self._signals.simulation, stop], timeout)
