"""Retention (SPEC §15): finished data older than the retention period is deleted in small
batches, by a background loop in `serve` and `worker` and by `dlrhub db prune`.

What may be deleted is `dlrhub.domain.retention`'s rule. Each batch is its own short
transaction, so a prune never holds a lock for long: on SQLite other writers get the database
between batches, on PostgreSQL rows are locked `SKIP LOCKED` and only for one batch, so
several workers may prune at once without waiting on each other or on requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.clock import Clock
from dlrhub.domain.retention import cutoff, retention_period
from dlrhub.store import retention as store
from dlrhub.store.database import Database

log = structlog.get_logger(__name__)

# Every table retention deletes from, in the order `db prune` prints them.
TABLES = ("messages", "events", "deliveries", "delivery_attempts")

Step = Callable[[AsyncConnection, datetime, store.Cursor | None, int], Awaitable[store.Batch]]
# Deliveries first: a message goes only once no delivery of its events is left.
_STEPS: tuple[Step, ...] = (
    store.prune_deliveries,
    store.prune_unattached_events,
    store.prune_messages,
)


class RetentionSettings(Protocol):
    """The settings retention reads (`dlrhub.config.Settings` has them)."""

    @property
    def retention_days(self) -> float: ...
    @property
    def retention_batch(self) -> int: ...
    @property
    def retention_interval_s(self) -> float: ...


@dataclass(frozen=True)
class PruneReport:
    """One prune: rows deleted per table, and how long it (and its slowest batch) took."""

    cutoff: datetime
    deleted: dict[str, int]
    batches: int
    elapsed_s: float
    # The longest any one batch's transaction was open: how long a prune can hold a lock.
    slowest_batch_s: float

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


class Retention:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        keep: timedelta,
        batch: int,
        interval_s: float,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._db = db
        self._clock = clock
        self._keep = keep
        self._batch = batch
        self._interval_s = interval_s
        self._timer = timer

    @classmethod
    def from_settings(cls, db: Database, clock: Clock, settings: RetentionSettings) -> Retention:
        return cls(
            db,
            clock,
            keep=retention_period(settings.retention_days),
            batch=settings.retention_batch,
            interval_s=settings.retention_interval_s,
        )

    async def prune(
        self, older_than: timedelta | None = None, stop: asyncio.Event | None = None
    ) -> PruneReport:
        """Delete what is finished and older than `older_than` (default: the retention
        period); with `stop`, end early between batches once it is set."""
        started = self._timer()
        before = cutoff(self._clock(), self._keep if older_than is None else older_than)
        deleted = dict.fromkeys(TABLES, 0)
        batches = 0
        slowest = 0.0
        for step in _STEPS:
            after: store.Cursor | None = None
            while stop is None or not stop.is_set():
                async with self._db.transaction() as conn:
                    opened = self._timer()
                    batch = await step(conn, before, after, self._batch)
                # The commit is part of the time the batch held its locks.
                slowest = max(slowest, self._timer() - opened)
                batches += 1
                for table, count in batch.deleted.items():
                    deleted[table] += count
                if batch.cursor is None:
                    break
                after = batch.cursor
                await asyncio.sleep(0)  # let this process's other writers in between batches
        return PruneReport(before, deleted, batches, self._timer() - started, slowest)

    async def run(self, stop: asyncio.Event) -> None:
        """Prune at start and then every `interval_s` until `stop`; a failed run is logged
        and retried at the next interval (it deleted whole batches or nothing)."""
        while not stop.is_set():
            try:
                report = await self.prune(stop=stop)
            except Exception:
                log.exception("retention prune failed")
            else:
                if report.total:
                    log.info(
                        "retention pruned finished data",
                        deleted=report.deleted,
                        elapsed_s=round(report.elapsed_s, 3),
                        slowest_batch_s=round(report.slowest_batch_s, 3),
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval_s)
