"""The dispatcher: claims due deliveries, sends them, schedules retries (DESIGN.md).

Isolation: a global in-flight limit, a per-webhook limit and a circuit breaker. A webhook
at its limit or paused is excluded from the claim itself, so its backlog never occupies a
global slot and healthy webhooks keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from dlrhub.delivery.buffer import JobBuffer
from dlrhub.delivery.recorder import Recorder
from dlrhub.delivery.requests import build_request
from dlrhub.domain.circuit import CircuitBreaker
from dlrhub.domain.clock import Clock
from dlrhub.domain.outgoing import response_excerpt
from dlrhub.domain.ramp import ConcurrencyRamp
from dlrhub.domain.retry import RetryDecision, decide_after_attempt
from dlrhub.metrics import Metrics
from dlrhub.outbound.client import AttemptResult, DeliveryClient
from dlrhub.store import deliveries as store
from dlrhub.store.database import Database
from dlrhub.store.records import AttemptOutcome, DeliveryJob
from dlrhub.store.signals import Signals, wait_for_any

log = structlog.get_logger(__name__)

# Claimed deliveries a worker may hold (in flight plus buffered) per in-flight slot. The
# buffer must outlast a claim, which waits its turn behind the recorder on SQLite: at several
# thousand deliveries a second, a few hundred go out while one claim is under way. It was 2
# until a change that raised it (with slot refill and a frozen heap) took `bench --quick` on
# SQLite from 4.9k to 7.5k deliveries a second.
HELD_PER_SLOT = 4

# Deliveries of one webhook a worker may hold per attempt that webhook has earned in flight:
# enough to outlast a claim at that concurrency, and no more, so one worker neither hoards a
# webhook's backlog nor fills its buffer with an endpoint that hangs.
HELD_PER_WEBHOOK_SLOT = 8

# A claim is worth its write transaction once it may take at least 1/4 of a full batch:
# smaller claims while attempts are in flight would cost a transaction per few deliveries.
# An idle worker claims whatever is there.
WORTHWHILE_CLAIM_DIVISOR = 4

# A webhook the last claim left out (at its hold cap) is worth another claim once it holds
# less than 1/2 of its cap: sooner, every finished attempt would set off a claim for one row.
REFILL_BELOW_CAP_DIVISOR = 2

# Work is due but not claimable (its webhook is paused or at its cap): look again after at
# least this long, so the loop does not spin on it.
MIN_IDLE_S = 0.05

# Buffered leases are renewed this many times per lease: a renewal that is late (SQLite's
# writer busy) or fails still leaves two more before another worker may take the rows.
RENEWALS_PER_LEASE = 3


@dataclass(frozen=True)
class DispatcherConfig:
    """The dispatcher's tuning, each field from the Settings field of the same name."""

    retry_schedule: tuple[float, ...]
    delivery_timeout_s: float
    lease_s: float
    poll_interval_s: float
    claim_batch: int
    max_in_flight: int
    max_in_flight_per_webhook: int
    initial_in_flight_per_webhook: int
    circuit_threshold: int
    circuit_cooldown_s: float
    circuit_max_cooldown_s: float
    disable_after_s: float
    warn_after_s: float = 3600.0  # docs/alerts.md


def _outcome(
    job: DeliveryJob, result: AttemptResult, decision: RetryDecision, now: datetime
) -> AttemptOutcome:
    """The record of one attempt: what came back (the body's first KiB) and what it means."""
    body = response_excerpt(result.body) if result.status else None
    return AttemptOutcome(
        delivery_id=job.delivery_id,
        webhook_id=job.webhook.id,
        attempted_at=now,
        duration_ms=result.duration_ms,
        response_status=result.status,
        response_body=body,
        error=decision.error,
        new_status=decision.status,
        attempts=job.attempts + 1,
        next_attempt_at=decision.next_attempt_at,
        message_id=job.message_id,
    )


def _header(result: AttemptResult, name: str) -> str | None:
    for key, value in result.headers.items():
        if key.lower() == name:
            return value
    return None


class Dispatcher:
    def __init__(
        self,
        *,
        db: Database,
        signals: Signals,
        clock: Clock,
        client: DeliveryClient,
        config: DispatcherConfig,
        worker_id: str,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self._client = client
        self._config = config
        self._worker_id = worker_id
        self._metrics = metrics or Metrics()
        self._recorder = Recorder(
            db,
            clock,
            signals,
            disable_after=timedelta(seconds=config.disable_after_s),
            warn_after=timedelta(seconds=config.warn_after_s),
        )
        self._breaker = CircuitBreaker(
            threshold=config.circuit_threshold,
            base_cooldown_s=config.circuit_cooldown_s,
            max_cooldown_s=config.circuit_max_cooldown_s,
        )
        self._ramp = ConcurrencyRamp(
            initial=config.initial_in_flight_per_webhook,
            maximum=config.max_in_flight_per_webhook,
        )
        self._buffer = JobBuffer()
        self._max_held = HELD_PER_SLOT * config.max_in_flight
        self._per_webhook: Counter[str] = Counter()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._unsent: set[str] = set()
        self._slot_freed = asyncio.Event()
        self._drained_at: float | None = None
        self._drained_excluding: set[str] = set()
        self._random = random.Random()
        self._accepting = True
        self._releasing: set[asyncio.Task[None]] = set()

    # What makes it a `services.handover.DeliveryTaker`: deliveries new in this process.
    @property
    def worker_id(self) -> str:
        return self._worker_id

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self._config.lease_s)

    def room(self) -> int:
        """How many more deliveries a claim now could take, in all."""
        if not self._accepting:
            return 0
        return max(0, self._max_held - len(self._buffer) - len(self._in_flight))

    def room_for(self, webhook_id: str) -> int:
        """How many more of this webhook's deliveries a claim now could take."""
        now = time.monotonic()
        if not self._accepting or webhook_id in self._breaker.open_keys(now):
            return 0
        return max(0, self._held_cap(webhook_id, now) - self._held(webhook_id))

    def take(self, jobs: Sequence[DeliveryJob]) -> None:
        """Deliveries leased to this worker by a committed transaction: sent like claimed
        ones. After `run` stopped they are given back (or their lease simply runs out)."""
        if not self._accepting:
            releasing = asyncio.create_task(self._release([job.delivery_id for job in jobs]))
            self._releasing.add(releasing)  # a reference, so the task is not collected
            releasing.add_done_callback(self._releasing.discard)
            return
        self._buffer.add(jobs)
        self._start_from_buffer()

    async def run(self, stop: asyncio.Event) -> None:
        background = [
            asyncio.create_task(self._recorder.run()),
            asyncio.create_task(self._renew_leases(stop)),
        ]
        try:
            await self._loop(stop)
        finally:
            self._accepting = False
            await self._drain()
            await self._recorder.close()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._slot_freed.clear()
            self._start_from_buffer()
            await self._release_paused()
            room = self._max_held - len(self._buffer) - len(self._in_flight)
            limit = min(room, self._config.claim_batch)
            worthwhile = (
                limit * WORTHWHILE_CLAIM_DIVISOR >= self._config.claim_batch or not self._in_flight
            )
            if limit > 0 and worthwhile and self._may_find_more():
                # Clear before claiming: a wake-up that lands during the claim is not lost.
                self._signals.deliveries.clear()
                excluded = self._excluded_webhooks(time.monotonic())
                claimed = await self._claim(limit, excluded)
                self._buffer.add(claimed)
                self._start_from_buffer()
                if len(claimed) == limit:
                    continue  # there is probably more
                self._after_short_claim(excluded)
            await self._idle(stop)

    def _after_short_claim(self, excluded: set[str]) -> None:
        """The queue had less than we asked for, leaving out `excluded`: remember it, so
        that finishing attempts do not each trigger another claim that finds nothing.

        It must be the set the claim left out, not one computed afterwards: a webhook
        that was at its cap during the claim and below it a moment later would otherwise
        be forgotten, and its backlog would wait a whole poll interval."""
        self._drained_at = time.monotonic()
        self._drained_excluding = excluded

    def _may_find_more(self) -> bool:
        """Whether a claim can find anything the last short claim did not: new work was
        signalled, the poll interval passed, or a webhook it skipped has room again."""
        if self._drained_at is None or self._signals.deliveries.is_set():
            return True
        now = time.monotonic()
        if now - self._drained_at >= self._config.poll_interval_s:
            return True
        return any(
            self._held(w) < self._held_cap(w, now) // REFILL_BELOW_CAP_DIVISOR
            and w not in self._breaker.open_keys(now)
            for w in self._drained_excluding
        )

    def _held(self, webhook_id: str) -> int:
        return self._per_webhook[webhook_id] + self._buffer.held(webhook_id)

    def _held_cap(self, webhook_id: str, now: float) -> int:
        """How many of a webhook's deliveries this worker may hold (HELD_PER_WEBHOOK_SLOT)."""
        return HELD_PER_WEBHOOK_SLOT * self._ramp.allowed(webhook_id, now)

    def _slots_for(self, webhook_id: str, now: float) -> int:
        allowed = self._breaker.concurrency(webhook_id, now, self._ramp.allowed(webhook_id, now))
        return max(0, allowed - self._per_webhook[webhook_id])

    def _start_from_buffer(self) -> None:
        free = self._config.max_in_flight - len(self._in_flight)
        if free <= 0 or not len(self._buffer):
            return
        now = time.monotonic()
        for job in self._buffer.take(lambda webhook_id: self._slots_for(webhook_id, now), free):
            self._start(job)

    def _excluded_webhooks(self, now: float) -> set[str]:
        """Webhooks not to claim for: paused, or already holding enough work here."""
        excluded = self._breaker.open_keys(now)
        for webhook_id in {*self._per_webhook, *self._buffer.webhooks()}:
            if self._held(webhook_id) >= self._held_cap(webhook_id, now):
                excluded.add(webhook_id)
        return excluded

    async def _claim(self, limit: int, excluded: set[str]) -> list[DeliveryJob]:
        """Lease due deliveries, then load what sending them needs.

        The load runs after the lease is committed, outside the write transaction: the rows
        are ours until the lease expires, and on SQLite every statement kept out of a write
        transaction is time the report ingest and the recorder do not wait for the lock.
        """
        now = self._clock()
        try:
            async with self._db.transaction() as conn:
                ids = await store.claim_due(
                    conn,
                    now=now,
                    lease_until=now + timedelta(seconds=self._config.lease_s),
                    worker=self._worker_id,
                    limit=limit,
                    exclude_webhooks=excluded,
                )
        except Exception:
            log.exception("claiming deliveries failed")
            return []
        if not ids:
            return []
        try:
            async with self._db.reading() as conn:
                return await store.load_jobs(conn, ids, now)
        except Exception:
            log.exception("loading claimed deliveries failed; giving them back", count=len(ids))
            await self._release(ids)
            return []

    async def _release_paused(self) -> None:
        """Give back what is buffered for webhooks whose circuit just opened: held here,
        it would only age; in the queue it waits for the next probe like everything else."""
        paused = [
            w for w in self._buffer.webhooks() if w in self._breaker.open_keys(time.monotonic())
        ]
        ids = [job.delivery_id for w in paused for job in self._buffer.drop(w)]
        if ids:
            await self._release(ids)

    def _start(self, job: DeliveryJob) -> None:
        self._unsent.add(job.delivery_id)
        self._per_webhook[job.webhook.id] += 1
        self._metrics.in_flight.inc()
        task = asyncio.create_task(self._attempt(job))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_freed.set()

    async def _attempt(self, job: DeliveryJob) -> None:
        try:
            request = build_request(job, int(self._clock().timestamp()))
            result = await self._client.send(request)
        finally:
            self._per_webhook[job.webhook.id] -= 1
            if self._per_webhook[job.webhook.id] <= 0:
                del self._per_webhook[job.webhook.id]
            self._metrics.in_flight.dec()
        self._unsent.discard(job.delivery_id)
        finished_at = time.monotonic()
        self._breaker.record(job.webhook.id, result.succeeded, finished_at)
        self._ramp.record(job.webhook.id, result.succeeded, finished_at)
        now = self._clock()
        decision = decide_after_attempt(
            succeeded=result.succeeded,
            response_status=result.status,
            error=result.error,
            retry_after=_header(result, "retry-after"),
            attempts_made=job.attempts + 1,
            schedule=self._config.retry_schedule,
            now=now,
            jitter=self._random.uniform(-1.0, 1.0),
        )
        outcome = _outcome(job, result, decision, now)
        self._recorder.add(outcome)
        self._metrics.deliveries.labels(outcome.new_status).inc()
        self._metrics.attempt_seconds.observe(result.duration_ms / 1000)
        self._metrics.open_circuits.set(self._breaker.not_closed(time.monotonic()))
        # Refill the slot now, in this step: not when the loop next wakes (it may be
        # waiting on a claim), nor when this task's done-callback runs, one loop pass later.
        self._start_from_buffer()

    async def _idle(self, stop: asyncio.Event) -> None:
        """Sleep until woken (new work, a freed slot, stop), the next due time, or the poll
        interval, whichever comes first."""
        timeout = self._config.poll_interval_s
        if not len(self._buffer):
            with contextlib.suppress(Exception):
                async with self._db.reading() as conn:
                    due = await store.earliest_due(conn)
                if due is not None:
                    timeout = min(timeout, max(0.0, (due - self._clock()).total_seconds()))
        timeout = max(timeout, min(MIN_IDLE_S, self._config.poll_interval_s))
        await wait_for_any([self._signals.deliveries, self._slot_freed, stop], timeout)

    async def _renew_leases(self, stop: asyncio.Event) -> None:
        """Buffered deliveries can wait behind a slow webhook longer than a lease: keep their
        leases alive so no other worker sends them meanwhile."""
        interval = self._config.lease_s / RENEWALS_PER_LEASE
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            held = [*self._buffer.ids(), *self._unsent]
            if not held or stop.is_set():
                continue
            now = self._clock()
            try:
                async with self._db.transaction() as conn:
                    await store.renew_leases(
                        conn, held, self._worker_id, now + timedelta(seconds=self._config.lease_s)
                    )
            except Exception:
                log.exception("renewing leases failed", count=len(held))

    async def _release(self, ids: list[str]) -> None:
        try:
            async with self._db.transaction() as conn:
                await store.release(conn, ids)
        except Exception:
            log.exception("releasing leases failed; they will expire", count=len(ids))

    async def _drain(self) -> None:
        """Give back what is buffered, let in-flight attempts finish (bounded by the
        timeout), then give back whatever did not get an outcome."""
        await self._release([job.delivery_id for job in self._buffer.drain()])
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self._config.delivery_timeout_s + 1)
        for task in list(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.wait(self._in_flight)
        if self._unsent:
            await self._release(sorted(self._unsent))
            self._unsent.clear()
