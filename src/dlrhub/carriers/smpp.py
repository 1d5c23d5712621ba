"""The SMPP connector (SPEC §11.2): sessions per `DLRHUB_SMPP_BINDS`, held under slots shared
by every process, submitting from the durable queue.

Each process runs, per bind, as many slot holders as the bind has `sessions`; a holder binds a
session only while it holds one of the bind's slots in the database, so the bind never has more
than `sessions` sessions in all, and a dead process's slot is taken over once its lease lapses.
A holder keeps its session up (reconnecting 1 s doubling to 60 s), claims as many submissions
as its window has room for, and on shutdown stops claiming, lets what is in flight finish,
unbinds and gives the slot back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from dlrhub.carriers.smpp_session import BindRefused, SessionClosed, SmppSession
from dlrhub.carriers.smpp_traffic import SmppTraffic, TrafficServices
from dlrhub.domain.smpp_binds import SessionState, SmppBind
from dlrhub.domain.status import Channel
from dlrhub.domain.submission import FIRST_DELAY, MAX_DELAY
from dlrhub.metrics import SmppMetrics
from dlrhub.services.session_slots import SessionSlots
from dlrhub.store.signals import Signals, wait_for_any

log = structlog.get_logger(__name__)

BOUND, CONNECTING = SessionState.BOUND.value, SessionState.CONNECTING.value
# Messages claimed per session, as a multiple of its window (see _submit_loop).
CLAIM_AHEAD = 4


@dataclass(frozen=True)
class SmppConfig:
    binds: tuple[SmppBind, ...]
    default_sender: str | None
    enquire_link_s: float
    response_timeout_s: float
    submit_lease_s: float
    poll_interval_s: float
    drain_s: float = 3.0


class SmppConnector:
    def __init__(
        self,
        config: SmppConfig,
        services: TrafficServices,
        slots: SessionSlots,
        signals: Signals,
        metrics: SmppMetrics,
        *,
        worker_id: str,
    ) -> None:
        self._holders = [
            SlotHolder(config, traffic, slots, signals, metrics, worker_id=worker_id)
            for bind in config.binds
            for traffic in [
                SmppTraffic(bind, services, metrics, default_sender=config.default_sender)
            ]
            for _ in range(bind.sessions)
        ]

    async def run(self, stop: asyncio.Event) -> None:
        if not self._holders:
            return
        await asyncio.gather(*(holder.run(stop) for holder in self._holders))


class SlotHolder:
    """One of a bind's `sessions` in this process: a slot, and the session it allows."""

    def __init__(
        self,
        config: SmppConfig,
        traffic: SmppTraffic,
        slots: SessionSlots,
        signals: Signals,
        metrics: SmppMetrics,
        *,
        worker_id: str,
    ) -> None:
        self._config = config
        self._traffic = traffic
        self._bind = traffic.bind
        self._slots = slots
        self._signals = signals
        self._metrics = metrics
        self._worker_id = worker_id
        self._submissions = traffic.services.submissions
        self._state = CONNECTING
        self._counted: str | None = None  # the state this holder adds to the sessions gauge
        self._lost = asyncio.Event()  # the slot's lease ran out before it was renewed

    async def run(self, stop: asyncio.Event) -> None:
        recheck_s = self._slots.lease.total_seconds() / 3
        while not stop.is_set():
            try:
                slot = await self._slots.claim(
                    self._bind.name, self._bind.sessions, self._worker_id, CONNECTING
                )
            except Exception:
                log.exception("cannot claim an SMPP session slot", bind=self._bind.name)
                slot = None
            if slot is None:  # every slot is held (by other processes, or the database is down)
                await wait_for_any([stop], recheck_s)
                continue
            log.info("smpp slot held", bind=self._bind.name, slot=slot, worker=self._worker_id)
            try:
                await self._hold(slot, stop)
            finally:
                self._set_state(None)
                with contextlib.suppress(Exception):
                    await self._slots.release(
                        self._bind.name, slot, self._worker_id, self._traffic.counters
                    )

    async def _hold(self, slot: int, stop: asyncio.Event) -> None:
        self._lost.clear()
        renewer = asyncio.create_task(self._renew(slot, stop))
        delay = FIRST_DELAY.total_seconds()
        try:
            while not stop.is_set() and not self._lost.is_set():
                self._set_state(CONNECTING)
                try:
                    session = await SmppSession.open(
                        self._bind,
                        on_deliver=self._traffic.on_deliver,
                        enquire_link_s=self._config.enquire_link_s,
                        response_timeout_s=self._config.response_timeout_s,
                    )
                except (SessionClosed, BindRefused) as exc:
                    log.warning(
                        "smpp bind failed", bind=self._bind.name, error=str(exc), retry_s=delay
                    )
                    await wait_for_any([stop, self._lost], delay)
                    delay = min(delay * 2, MAX_DELAY.total_seconds())
                    continue
                delay = FIRST_DELAY.total_seconds()
                self._set_state(BOUND)
                await self._serve(session, stop)
                if not (stop.is_set() or self._lost.is_set()):
                    log.warning("smpp session ended; reconnecting", bind=self._bind.name)
                    await wait_for_any([stop, self._lost], delay)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _serve(self, session: SmppSession, stop: asyncio.Event) -> None:
        """Submit through `session` until it ends, the slot is lost or the process stops; then
        let in-flight messages finish and unbind."""
        ended = asyncio.Event()
        watcher = asyncio.create_task(_set_when_closed(session, ended))
        in_flight: set[asyncio.Task[None]] = set()
        try:
            await self._submit_loop(session, stop, ended, in_flight)
        finally:
            if in_flight:
                await asyncio.wait(in_flight, timeout=self._config.drain_s)
            await session.close(self._config.drain_s)
            for task in in_flight:  # still waiting after the drain: its lease brings it back
                task.cancel()
            watcher.cancel()

    async def _submit_loop(
        self,
        session: SmppSession,
        stop: asyncio.Event,
        ended: asyncio.Event,
        in_flight: set[asyncio.Task[None]],
    ) -> None:
        lease = timedelta(seconds=self._config.submit_lease_s)
        while not (stop.is_set() or ended.is_set() or self._lost.is_set()):
            # Messages are claimed ahead of the window (the session's semaphore holds their
            # submit_sm back): a message's slot here lasts until its outcome is recorded, and
            # claiming only as many as the window cost one claim transaction per message.
            room = self._bind.window * CLAIM_AHEAD - len(in_flight)
            if room <= 0:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            self._signals.submissions[Channel.SMS].clear()
            try:
                claimed = await self._submissions.claim(
                    Channel.SMS, worker=self._worker_id, limit=room, lease=lease
                )
            except Exception:
                log.exception("cannot claim submissions", bind=self._bind.name)
                claimed = []
            for submission in claimed:
                task = asyncio.create_task(self._traffic.submit_message(session, submission))
                in_flight.add(task)
                task.add_done_callback(_finished(in_flight))
            if len(claimed) < room:
                waits = [self._signals.submissions[Channel.SMS], stop, ended, self._lost]
                await wait_for_any(waits, self._config.poll_interval_s)

    async def _renew(self, slot: int, stop: asyncio.Event) -> None:
        """Renew the slot's lease every third of it; a slot lost (taken over after a lapse, or
        not renewed in time) ends the session at once: two processes must never both hold it."""
        lease_s = self._slots.lease.total_seconds()
        renewed_at = time.monotonic()
        while not stop.is_set():
            await wait_for_any([stop], lease_s / 3)
            try:
                held = await self._slots.renew(
                    self._bind.name, slot, self._worker_id, self._state, self._traffic.counters
                )
                if held:
                    renewed_at = time.monotonic()
            except Exception:
                log.exception("cannot renew the SMPP session slot", bind=self._bind.name)
                held = time.monotonic() - renewed_at < lease_s * 0.8
            if not held:
                log.warning("smpp slot lost; dropping the session", bind=self._bind.name, slot=slot)
                self._lost.set()
                return

    def _set_state(self, state: str | None) -> None:
        """This holder's session state (None: no slot), in the gauge and the slot's row."""
        if self._counted is not None:
            self._metrics.sessions.labels(self._bind.name, self._counted).dec()
        if state is not None:
            self._metrics.sessions.labels(self._bind.name, state).inc()
            self._state = state
        self._counted = state


async def _set_when_closed(session: SmppSession, ended: asyncio.Event) -> None:
    await session.wait_closed()
    ended.set()


def _finished(in_flight: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def discard(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("submitting a message failed", error=repr(task.exception()))

    return discard
