"""The simulator: a carrier connector with deterministic outcomes (SPEC §10).

Its schedule lives in the messages table (`sim_next`, `sim_due_at`), so a restart picks up
exactly where a crash left off.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import structlog

from dlrhub.domain.simulation import simulated_error, simulated_read_follows
from dlrhub.domain.status import MessageStatus
from dlrhub.services.reports import ReportOutcome, StatusReport, apply_reports
from dlrhub.services.signals import Clock, Signals
from dlrhub.store import messages as store
from dlrhub.store.database import Database
from dlrhub.store.messages import SimulationStep

log = structlog.get_logger(__name__)

STEP_LEASE = timedelta(seconds=30)


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
    ) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self._delay = delay
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
        """Report every due simulated outcome in one transaction, through the batched report
        path every carrier uses, and schedule what follows; returns how many steps were taken.

        Claim, reports and the next steps share the transaction: a crash anywhere leaves the
        steps due again once their lease runs out, never applied without their follow-up.
        """
        now = self._clock()
        async with self._db.transaction() as conn:
            due = await store.claim_simulations(conn, now, now + STEP_LEASE, self._batch)
            outcomes, queued = await apply_reports(
                conn,
                [StatusReport(s.message_id, s.status, simulated_error(s.status)) for s in due],
                now=now,
            )
            await store.schedule_simulations(
                conn,
                [
                    self._next_step(s, outcome, now)
                    for s, outcome in zip(due, outcomes, strict=True)
                ],
            )
        if queued:
            self._signals.deliveries_queued()
        return len(due)

    def _next_step(
        self, step: SimulationStep, outcome: ReportOutcome, now: datetime
    ) -> tuple[str, MessageStatus | None, datetime | None]:
        """READ follows a DELIVERED that was applied (on channels with read receipts);
        otherwise the message's simulation is over."""
        if outcome is ReportOutcome.APPLIED and simulated_read_follows(
            step.destination, step.channel, step.status
        ):
            return step.message_id, MessageStatus.READ, now + self._delay
        return step.message_id, None, None

    async def _idle(self, stop: asyncio.Event) -> None:
        timeout = self._poll_interval_s
        with contextlib.suppress(Exception):
            async with self._db.reading() as conn:
                due = await store.earliest_simulation(conn)
            if due is not None:
                timeout = min(timeout, max(0.0, (due - self._clock()).total_seconds()))
        if timeout <= 0:
            return
        waiters = [
            asyncio.create_task(self._signals.simulation.wait()),
            asyncio.create_task(stop.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
