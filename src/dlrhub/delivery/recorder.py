"""Writes attempt outcomes in batches: one transaction for many deliveries."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from dlrhub.domain.clock import Clock
from dlrhub.services.alerts import record_webhook_health
from dlrhub.store import deliveries as store
from dlrhub.store.database import Database
from dlrhub.store.engine import commit_without_waiting_for_disk
from dlrhub.store.records import AttemptOutcome
from dlrhub.store.signals import Signals

log = structlog.get_logger(__name__)


class Recorder:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        signals: Signals,
        *,
        disable_after: timedelta,
        warn_after: timedelta = timedelta(hours=1),
        interval_s: float = 0.01,
        max_batch: int = 500,
    ) -> None:
        self._db = db
        self._clock = clock
        self._signals = signals
        self._interval_s = interval_s
        self._max_batch = max_batch
        self._disable_after = disable_after
        self._warn_after = warn_after
        self._buffer: list[AttemptOutcome] = []
        self._wake = asyncio.Event()
        self._closing = False
        # close() flushes while run() may be mid-flush: without this, both would write the
        # same batch (it stays buffered until committed) and log every attempt twice.
        self._flushing = asyncio.Lock()

    def add(self, outcome: AttemptOutcome) -> None:
        self._buffer.append(outcome)
        if len(self._buffer) >= self._max_batch:
            self._wake.set()

    async def run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write what is buffered. On a database error the outcomes stay buffered for the next
        flush: an outcome is only forgotten once it is committed."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        while self._buffer:
            batch = self._buffer[: self._max_batch]
            try:
                async with self._db.transaction() as conn:
                    # A record lost in a database crash only means a resend (at-least-once).
                    await commit_without_waiting_for_disk(conn)
                    now = self._clock()
                    await store.record_outcomes(conn, batch, now)
                    latest = {o.webhook_id: o for o in batch}  # in order: the last one wins
                    # The alerts a health change calls for commit with it (docs/alerts.md).
                    health = await record_webhook_health(
                        conn,
                        latest,
                        now,
                        disable_after=self._disable_after,
                        warn_after=self._warn_after,
                    )
            except Exception:
                log.exception("recording outcomes failed; will retry", count=len(batch))
                await asyncio.sleep(0.5)
                return
            del self._buffer[: len(batch)]
            for webhook_id in health.disabled:
                log.warning("webhook disabled after failing continuously", webhook_id=webhook_id)
            if health.alerts_queued:
                self._signals.deliveries_queued()
            # A retry to schedule, or a message's event done: its next event to the same
            # webhook may be waiting for it (docs/ordering.md).
            if any(o.next_attempt_at is not None or o.message_id is not None for o in batch):
                self._signals.deliveries_queued()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        for _ in range(20):
            await self.flush()
            if not self._buffer:
                return
        log.error("outcomes could not be recorded before shutdown", count=len(self._buffer))
