"""The simulator's use case (SPEC §10): report every due simulated outcome, schedule what follows.

The simulator's schedule lives in the messages table (`sim_next`, `sim_due_at`), so a restart
picks up exactly where a crash left off; carriers/simulator.py only decides when to run it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dlrhub.domain.clock import Clock
from dlrhub.domain.simulation import simulated_error, simulated_read_follows
from dlrhub.domain.status import MessageStatus
from dlrhub.services.handover import DeliveryTaker, Handover
from dlrhub.services.status_changes import (
    CarrierReport,
    CarrierReportOutcome,
    apply_carrier_reports,
)
from dlrhub.store import messages as store
from dlrhub.store.database import Database
from dlrhub.store.records import MessageRecord


class SimulatedReports:
    def __init__(self, db: Database, clock: Clock, *, delay: timedelta, batch: int) -> None:
        self._db = db
        self._clock = clock
        self._delay = delay
        self._batch = batch

    async def step(self, taker: DeliveryTaker | None = None) -> tuple[int, bool]:
        """Report every due simulated outcome in one transaction, through the batched report
        path every carrier uses, and schedule what follows; returns how many steps were taken
        and whether deliveries were queued. The deliveries `taker` (this process's dispatcher)
        has room for are handed to it instead of queued (services/handover.py).

        The locked steps, their reports and the next steps share the transaction: a crash
        anywhere leaves the steps due again, never applied without their follow-up.
        """
        now = self._clock()
        handover = None if taker is None else Handover.to(taker, now)
        async with self._db.transaction() as conn:
            due = await store.lock_due_simulations(conn, now, self._batch)
            outcomes, queued = await apply_carrier_reports(
                conn,
                [CarrierReport(m.id, status, simulated_error(status)) for m, status in due],
                now=now,
                locked={message.id: message for message, _ in due},
                handover=handover,
            )
            await store.schedule_simulations(
                conn,
                [
                    self._next_step(message, status, outcome, now)
                    for (message, status), outcome in zip(due, outcomes, strict=True)
                ],
            )
        if handover is not None:
            handover.hand_over()
        return len(due), bool(queued)

    async def seconds_to_next(self) -> float | None:
        """How long until the earliest scheduled step is due (0 if one is), None if none is."""
        async with self._db.reading() as conn:
            due = await store.earliest_simulation(conn)
        return None if due is None else max(0.0, (due - self._clock()).total_seconds())

    def _next_step(
        self,
        message: MessageRecord,
        reported: MessageStatus,
        outcome: CarrierReportOutcome,
        now: datetime,
    ) -> tuple[str, MessageStatus | None, datetime | None]:
        """READ follows a DELIVERED that was applied (on channels with read receipts);
        otherwise the message's simulation is over."""
        if outcome is CarrierReportOutcome.APPLIED and simulated_read_follows(
            message.destination, message.channel, reported
        ):
            return message.id, MessageStatus.READ, now + self._delay
        return message.id, None, None
