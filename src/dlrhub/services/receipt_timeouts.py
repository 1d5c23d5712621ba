"""The receipt-timeout sweeper (docs/receipt-timeouts.md): a message whose receipt deadline
passed with no final report becomes EXPIRED through the one report path.

Each sweep is one short transaction over a batch of due messages, claimed `SKIP LOCKED` on
PostgreSQL so several workers sweep side by side; the status change, its DELIVERY event, its
deliveries and its report-log row commit together, or not at all (then it is due again).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import structlog

from dlrhub.domain.clock import Clock
from dlrhub.domain.receipt_timeouts import timeout_error
from dlrhub.domain.status import MessageStatus
from dlrhub.services.status_changes import (
    CarrierReport,
    CarrierReportOutcome,
    apply_carrier_reports,
)
from dlrhub.store import messages as store
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals

log = structlog.get_logger(__name__)


class TimeoutSettings(Protocol):
    """The settings the sweeper reads (`dlrhub.config.Settings` has them)."""

    @property
    def receipt_timeout_s(self) -> int: ...
    @property
    def poll_interval_s(self) -> float: ...


class SweeperParts(Protocol):
    """What the sweeper is built from (the wiring's `Hub` has it)."""

    @property
    def db(self) -> Database: ...
    @property
    def signals(self) -> Signals: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def settings(self) -> TimeoutSettings: ...


class ReceiptTimeouts:
    def __init__(
        self,
        db: Database,
        signals: Signals,
        clock: Clock,
        *,
        timeout_s: int,
        poll_interval_s: float,
        batch: int = 200,
    ) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self._timeout_s = timeout_s
        self._poll_interval_s = poll_interval_s
        self._batch = batch

    @classmethod
    def of(cls, parts: SweeperParts) -> ReceiptTimeouts:
        settings = parts.settings
        return cls(
            parts.db,
            parts.signals,
            parts.clock,
            timeout_s=settings.receipt_timeout_s,
            poll_interval_s=settings.poll_interval_s,
        )

    async def sweep(self) -> int:
        """Expire one batch of messages whose deadline passed; returns how many were due."""
        now = self._clock()
        async with self._db.transaction() as conn:
            due = await store.lock_due_receipts(conn, now, self._batch)
            reports = [
                CarrierReport(
                    d.message.id,
                    MessageStatus.EXPIRED,
                    timeout_error(self._timeout_s if d.validity_s is None else d.validity_s),
                )
                for d in due
            ]
            outcomes, queued = await apply_carrier_reports(
                conn, reports, now=now, locked={d.message.id: d.message for d in due}
            )
            # A message that was final already (a deadline left behind) just loses it.
            await store.clear_receipt_deadlines(
                conn,
                [
                    r.message_id
                    for r, o in zip(reports, outcomes, strict=True)
                    if o is not CarrierReportOutcome.APPLIED
                ],
            )
        if queued:
            self._signals.deliveries_queued()
        return len(due)

    async def seconds_to_next(self) -> float | None:
        """How long until the earliest deadline (0 if one passed), None if there is none."""
        async with self._db.reading() as conn:
            due = await store.earliest_receipt_due(conn)
        return None if due is None else max(0.0, (due - self._clock()).total_seconds())

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep whenever a deadline has passed, until `stop`; between sweeps only a read of
        the earliest deadline, at most every poll interval (SQLite: no idle write locks)."""
        while not stop.is_set():
            wait = self._poll_interval_s
            try:
                due_in = await self.seconds_to_next()
                if due_in == 0:
                    if await self.sweep() >= self._batch:
                        continue
                elif due_in is not None:
                    wait = min(wait, due_in)
            except Exception:
                log.exception("receipt timeout sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
