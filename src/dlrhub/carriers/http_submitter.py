"""Submitting from the durable queue to a carrier's HTTP API (WhatsApp Cloud API, Google RBM).

The loop is the connectors' common part: claim as many due submissions of the channel as
there is room for (`concurrency` in flight per process), send each with the connector's own
`send`, and record the outcome through the submission service (SPEC §11). A request that
fails without an answer (refused connection, timeout) is "refused for now". On shutdown no
new claims are made and the requests in flight get a few seconds to finish; one still running
then is cancelled, and its lease brings it back (the duplicate window, docs/carriers.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import structlog

from dlrhub.domain.status import Channel
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.services.submissions import AcceptedPart, Submissions, SubmitOutcome
from dlrhub.store.signals import Signals, wait_for_any
from dlrhub.store.submissions import Submission

log = structlog.get_logger(__name__)

# What one send came to: the answer, the reason of a refusal, the parts accepted.
SendResult = tuple[SubmitAnswer, str, tuple[AcceptedPart, ...]]
Send = Callable[[aiohttp.ClientSession, Submission], Awaitable[SendResult]]
# Counts each recorded outcome (the connector's metrics): (answer) → None.
CountOutcome = Callable[[SubmitAnswer], None]


@dataclass(frozen=True)
class SubmitterConfig:
    channel: Channel
    name: str  # the carrier, as logs and errors name it
    concurrency: int
    request_timeout_s: float
    lease_s: float
    poll_interval_s: float
    drain_s: float = 3.0


class HttpSubmitter:
    def __init__(
        self,
        config: SubmitterConfig,
        send: Send,
        submissions: Submissions,
        signals: Signals,
        *,
        worker_id: str,
        count: CountOutcome | None = None,
    ) -> None:
        self._config = config
        self._send = send
        self._submissions = submissions
        self._wake = signals.submissions[config.channel]
        self._worker_id = worker_id
        self._count = count
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=self._config.request_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as client:
            try:
                await self._claim_loop(client, stop)
            finally:
                if self._in_flight:
                    await asyncio.wait(self._in_flight, timeout=self._config.drain_s)
                for task in self._in_flight:
                    task.cancel()
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _claim_loop(self, client: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        lease = timedelta(seconds=self._config.lease_s)
        while not stop.is_set():
            room = self._config.concurrency - len(self._in_flight)
            if room <= 0:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            self._wake.clear()
            try:
                claimed = await self._submissions.claim(
                    self._config.channel, worker=self._worker_id, limit=room, lease=lease
                )
            except Exception:
                log.exception("cannot claim submissions", carrier=self._config.name)
                claimed = []
            for submission in claimed:
                task = asyncio.create_task(self._submit(client, submission))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if len(claimed) < room:
                await wait_for_any([self._wake, stop], self._config.poll_interval_s)

    async def _submit(self, client: aiohttp.ClientSession, submission: Submission) -> None:
        try:
            answer, reason, accepted = await self._send(client, submission)
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer, reason, accepted = (
                SubmitAnswer.TRY_LATER,
                f"{self._config.name} unreachable: {exc!r}"[:500],
                (),
            )
        try:
            decision = await self._submissions.record(
                SubmitOutcome(submission, answer, reason, accepted)
            )
        except Exception:  # the lease brings the message back
            log.exception("recording a submission failed", message_id=submission.message.id)
            return
        if self._count is not None:
            self._count(answer)
        if decision.answer is SubmitAnswer.REFUSED:
            log.info(
                "message refused",
                carrier=self._config.name,
                message_id=submission.message.id,
                error=decision.error,
            )
