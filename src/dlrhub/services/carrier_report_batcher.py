"""Carrier reports written by group commit: concurrent reports share one transaction.

Each report still gets exactly the outcome it would get alone: `apply_carrier_reports`
applies a batch's reports in order, the same few statements for one report or five hundred.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.clock import Clock
from dlrhub.services.group_commit import GroupCommit
from dlrhub.services.status_changes import (
    CarrierReport,
    CarrierReportOutcome,
    apply_carrier_reports,
)
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals


class CarrierReportBatcher:
    def __init__(
        self, db: Database, signals: Signals, clock: Clock, *, max_batch: int = 500
    ) -> None:
        self._signals = signals
        self._clock = clock
        self._commits = GroupCommit[CarrierReport, CarrierReportOutcome](
            db, self._apply, after_commit=self._wake, max_batch=max_batch
        )

    async def submit(self, report: CarrierReport) -> CarrierReportOutcome:
        """Apply `report` (with whatever else is waiting) and return its outcome once the
        transaction that holds it has committed."""
        return await self._commits.submit(report)

    async def _apply(
        self, conn: AsyncConnection, reports: list[CarrierReport]
    ) -> Sequence[CarrierReportOutcome]:
        outcomes, _queued = await apply_carrier_reports(conn, reports, now=self._clock())
        return outcomes

    def _wake(self, outcomes: list[CarrierReportOutcome]) -> None:
        # Only an applied report queues deliveries; waking the dispatcher when one applied
        # without any (no webhook wanted it) costs it one empty claim, never a delivery.
        if CarrierReportOutcome.APPLIED in outcomes:
            self._signals.deliveries_queued()
