"""Hand-overs to carriers from the durable queue (SPEC §11), the same for every connector.

A connector claims due submissions, tries them, and records what each carrier answered:
accepted (the carrier's id per part is stored, the queue row goes), refused for good (ERROR
and a DELIVERY 6 through the one report path), refused for now (due again after a backoff,
until `DLRHUB_SUBMIT_GIVE_UP_S`). Parts accepted before a part was refused for now are stored
at once, so a retry submits only the parts still missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.clock import Clock
from dlrhub.domain.receipt_timeouts import DEFAULT_RECEIPT_TIMEOUT_S
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.domain.submission import SubmitAnswer, SubmitDecision, decide_after_submit
from dlrhub.services.carrier_receipts import apply_early_receipts
from dlrhub.services.group_commit import GroupCommit
from dlrhub.services.handover import DeliveryTaker, Handover
from dlrhub.services.status_changes import CarrierReport, apply_carrier_reports
from dlrhub.store import carrier_ids
from dlrhub.store import messages as message_store
from dlrhub.store import submissions as store
from dlrhub.store.carrier_ids import Part
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals
from dlrhub.store.submissions import Retry, Submission


@dataclass(frozen=True)
class AcceptedPart:
    index: int
    carrier_message_id: str
    carrier_key: str  # the id as reports will be matched (smpp_receipts.stored_id_key)


@dataclass(frozen=True)
class SubmitOutcome:
    """What a try of one claimed submission came to. `accepted`: the parts the carrier
    accepted in this try (all of them when `answer` is ACCEPTED)."""

    submission: Submission
    answer: SubmitAnswer
    reason: str
    accepted: tuple[AcceptedPart, ...] = ()


class Submissions:
    def __init__(
        self,
        db: Database,
        signals: Signals,
        clock: Clock,
        *,
        give_up_after: timedelta,
        receipt_timeout_s: int = DEFAULT_RECEIPT_TIMEOUT_S,
    ) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self._give_up_after = give_up_after
        self._receipt_timeout_s = receipt_timeout_s
        self.taker: DeliveryTaker | None = None
        self._handover: Handover | None = None
        self._commits = GroupCommit[SubmitOutcome, SubmitDecision](
            db, self._apply, after_commit=self._wake
        )

    async def claim(
        self, channel: Channel, *, worker: str, limit: int, lease: timedelta
    ) -> list[Submission]:
        now = self._clock()
        async with self._db.transaction() as conn:
            return await store.claim_due(
                conn, channel=channel, now=now, lease_until=now + lease, worker=worker, limit=limit
            )

    async def accepted_parts(self, message_id: str) -> dict[int, str]:
        """Part index → carrier id of the parts of this message already accepted."""
        async with self._db.reading() as conn:
            parts = await carrier_ids.parts_of(conn, [message_id])
        return {part.part_index: part.carrier_message_id for part in parts.get(message_id, [])}

    async def record(self, outcome: SubmitOutcome) -> SubmitDecision:
        """Record a try's outcome; returns what became of the submission, once committed."""
        return await self._commits.submit(outcome)

    async def release(self, message_ids: Sequence[str], worker: str) -> None:
        async with self._db.transaction() as conn:
            await store.release(conn, message_ids, worker)

    async def _apply(
        self, conn: AsyncConnection, outcomes: list[SubmitOutcome]
    ) -> Sequence[SubmitDecision]:
        now = self._clock()
        self._handover = None if self.taker is None else Handover.to(self.taker, now)
        decisions: list[SubmitDecision] = []
        done: list[str] = []
        retries: list[Retry] = []
        refusals: list[CarrierReport] = []
        accepted: list[str] = []  # handed over: their receipt deadline starts now
        new_parts = [
            Part(outcome.submission.message.id, p.index, p.carrier_key, p.carrier_message_id, None)
            for outcome in outcomes
            for p in outcome.accepted
        ]
        for outcome in outcomes:
            submission = outcome.submission
            first = submission.first_tried_at or now
            decision = decide_after_submit(
                outcome.answer,
                reason=outcome.reason,
                tries_made=submission.tries + 1,
                first_tried_at=first,
                now=now,
                give_up_after=self._give_up_after,
            )
            decisions.append(decision)
            message_id = submission.message.id
            if decision.retry_at is not None:
                retries.append(
                    Retry(
                        message_id, submission.tries + 1, first, decision.retry_at, outcome.reason
                    )
                )
                continue
            done.append(message_id)
            if decision.answer is SubmitAnswer.REFUSED:
                refusals.append(CarrierReport(message_id, MessageStatus.ERROR, decision.error))
            elif decision.answer is SubmitAnswer.ACCEPTED:
                accepted.append(message_id)
        await carrier_ids.insert_parts(conn, new_parts, now)
        await store.finish(conn, done)
        # Before the early receipts: a receipt that overtook the acceptance clears it again.
        await message_store.set_receipt_deadlines(conn, accepted, now, self._receipt_timeout_s)
        await store.reschedule(conn, retries)
        await apply_carrier_reports(conn, refusals, now=now, handover=self._handover)
        await apply_early_receipts(conn, new_parts, now=now, handover=self._handover)
        return decisions

    def _wake(self, decisions: list[SubmitDecision]) -> None:
        if self._handover is not None:
            self._handover.hand_over()
            self._handover = None
        # A refusal or an early receipt may have queued deliveries; a spare wake-up costs one
        # empty claim.
        self._signals.deliveries_queued()
