"""Group commit for carrier reports: concurrent reports share one transaction.

Each report on its own costs a write transaction of several statements, and on SQLite the
writers take turns: at a few hundred reports a second the turns, not the work, set the
pace. Reports that arrive while a transaction is under way wait for the next one, which
applies all of them with the same few statements (`apply_carrier_reports`). A report that arrives
alone is written at once; nobody waits for a batch to fill.
"""

from __future__ import annotations

import asyncio

import structlog

from dlrhub.domain.clock import Clock
from dlrhub.services.status_changes import (
    CarrierReport,
    CarrierReportOutcome,
    apply_carrier_reports,
)
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals

log = structlog.get_logger(__name__)

_Pending = tuple[CarrierReport, "asyncio.Future[CarrierReportOutcome]"]


class CarrierReportBatcher:
    def __init__(
        self, db: Database, signals: Signals, clock: Clock, *, max_batch: int = 500
    ) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, report: CarrierReport) -> CarrierReportOutcome:
        """Apply `report` (with whatever else is waiting) and return its outcome once the
        transaction that holds it has committed."""
        future: asyncio.Future[CarrierReportOutcome] = asyncio.get_running_loop().create_future()
        self._pending.append((report, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            try:
                await self._write(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _fail(batch[0][1], exc)
                    continue
                # One report that breaks the transaction must not fail the others.
                log.warning("a batch of reports failed; applying them one by one", size=len(batch))
                for pending in batch:
                    try:
                        await self._write([pending])
                    except Exception as exc:
                        _fail(pending[1], exc)

    async def _write(self, batch: list[_Pending]) -> None:
        async with self._db.transaction() as conn:
            outcomes, queued = await apply_carrier_reports(
                conn, [report for report, _ in batch], now=self._clock()
            )
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # its request may have been cancelled meanwhile
                future.set_result(outcome)
        if queued:
            self._signals.deliveries_queued()


def _fail(future: asyncio.Future[CarrierReportOutcome], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
