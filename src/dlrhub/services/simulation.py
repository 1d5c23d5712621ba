"""The simulator's use case (SPEC §10): report every due simulated outcome, schedule what follows.

The simulator's schedule lives in the messages table (`sim_next`, `sim_due_at`), so a restart
picks up exactly where a crash left off; carriers/simulator.py only decides when to run it.
What a simulated message reports, step by step, is `domain.simulation.simulation_steps`'s rule
(its options in `sim_options`); `sim_next` is the index of the step due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dlrhub.domain.clock import Clock
from dlrhub.domain.simulation import (
    INTERMEDIATE,
    SimStep,
    SimulationOptions,
    resume_at,
    simulated_error,
    simulation_steps,
)
from dlrhub.domain.status import MessageStatus
from dlrhub.services.handover import DeliveryTaker, Handover
from dlrhub.services.status_changes import (
    CarrierReport,
    CarrierReportOutcome,
    apply_carrier_reports,
)
from dlrhub.store import messages as store
from dlrhub.store.database import Database
from dlrhub.store.messages import DueStep


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
            walks = [self._walk(step) for step in due]
            reports = [
                CarrierReport(step.message.id, status, _error_of(status))
                for step, (steps, index) in zip(due, walks, strict=True)
                if index is not None
                for status in steps[index].reports
            ]
            outcomes, queued = await apply_carrier_reports(
                conn,
                reports,
                now=now,
                locked={step.message.id: step.message for step in due},
                handover=handover,
            )
            applied = {
                r.message_id for r, o in zip(reports, outcomes, strict=True) if o is _APPLIED
            }
            await store.schedule_simulations(
                conn,
                [
                    _next_step(step.message.id, steps, index, step.message.id in applied, now)
                    for step, (steps, index) in zip(due, walks, strict=True)
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

    def _walk(self, due: DueStep) -> tuple[tuple[SimStep, ...], int | None]:
        """The message's steps, and the index of the one due (None: none is left)."""
        message = due.message
        options = None if due.sim_options is None else SimulationOptions.from_json(due.sim_options)
        steps = simulation_steps(message.destination, message.channel, options, self._delay)
        return steps, resume_at(due.sim_next, steps)


_APPLIED = CarrierReportOutcome.APPLIED


def _error_of(status: MessageStatus | None) -> str | None:
    """What a simulated report says: the error of a failure, or that it is intermediate."""
    return INTERMEDIATE if status is None else simulated_error(status)


def _next_step(
    message_id: str,
    steps: tuple[SimStep, ...],
    index: int | None,
    applied: bool,
    now: datetime,
) -> tuple[str, str | None, datetime | None]:
    """The step after `index`, due its delay from now; a step that needs the previous one
    applied (`true`'s READ after DELIVERED) is skipped, with the rest, if it was not."""
    following = None if index is None else index + 1
    if following is None or following >= len(steps):
        return message_id, None, None
    step = steps[following]
    if step.needs_applied and not applied:
        return message_id, None, None
    return message_id, str(following), now + step.after
