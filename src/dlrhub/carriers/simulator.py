"""The simulator: a carrier connector with deterministic outcomes (SPEC §10).

Its schedule lives in the messages table (`sim_next`, `sim_due_at`), so a restart picks up
exactly where a crash left off.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from dlrhub.domain.simulation import simulated_error, simulated_read_follows
from dlrhub.domain.status import MessageStatus
from dlrhub.services.reports import apply_status
from dlrhub.services.signals import Clock, Signals
from dlrhub.store import messages as store
from dlrhub.store.database import Database

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
        """Report every due simulated outcome, each with its event and deliveries, in one
        transaction; returns how many steps were taken."""
        now = self._clock()
        queued = 0
        async with self._db.transaction() as conn:
            claimed = await store.claim_simulations(conn, now, now + STEP_LEASE, self._batch)
            found = await store.by_ids(conn, [message_id for message_id, _ in claimed])
            for message_id, next_status in claimed:
                message = found[message_id]
                status = MessageStatus(next_status)
                result = await apply_status(
                    conn, message, status, occurred_at=now, error=simulated_error(status), now=now
                )
                queued += result or 0
                if result is not None and simulated_read_follows(
                    message.destination, message.channel, status
                ):
                    await store.schedule_simulation(
                        conn, message_id, MessageStatus.READ.value, now + self._delay
                    )
                else:
                    await store.schedule_simulation(conn, message_id, None, None)
        if queued:
            self._signals.deliveries_queued()
        return len(claimed)

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
