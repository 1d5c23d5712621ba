"""Carrier reports written by group commit: concurrent reports share one transaction.

Each report still gets exactly the outcome it would get alone: `apply_carrier_reports`
applies a batch's reports in order, the same few statements for one report or five hundred.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.clock import Clock
from dlrhub.services.group_commit import GroupCommit
from dlrhub.services.handover import DeliveryTaker, Handover
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
        # This process's dispatcher, once its workers run (`serve`): see services/handover.py.
        self.taker: DeliveryTaker | None = None
        self._handover: Handover | None = None
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
        now = self._clock()
        # Batches are written one after another: the hand-over of the batch that commits is
        # the one `_wake` finds (a batch that failed is replaced by the next one's).
        self._handover = None if self.taker is None else Handover.to(self.taker, now)
        outcomes, _queued = await apply_carrier_reports(
            conn, reports, now=now, handover=self._handover
        )
        return outcomes

    def _wake(self, outcomes: list[CarrierReportOutcome]) -> None:
        if self._handover is not None:
            self._handover.hand_over()
            self._handover = None
        # Only an applied report queues deliveries; waking the dispatcher when one applied
        # without any (no webhook wanted it) costs it one empty claim, never a delivery.
        if CarrierReportOutcome.APPLIED in outcomes:
            self._signals.deliveries_queued()
