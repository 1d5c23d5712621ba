"""Reports that name messages by the carrier's id (SMPP receipts; later WhatsApp and RBM
statuses): matched to the part they report on, and applied through the one report path.

A part's report moves the part; the message moves when its parts say so (SPEC §11.2: a
multi-part SMS is DELIVERED when every part is, ERROR or EXPIRED at the first part that
fails), through `apply_carrier_reports` in the same transaction. A report that names an id no
part has is kept (`early_receipts`): it may have overtaken the record of the acceptance, and
is applied when that is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.clock import Clock
from dlrhub.domain.row_ids import new_id
from dlrhub.domain.smpp_receipts import state_of_parts
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.services.group_commit import GroupCommit
from dlrhub.services.handover import DeliveryTaker, Handover
from dlrhub.services.status_changes import CarrierReport, apply_carrier_reports
from dlrhub.store import carrier_ids
from dlrhub.store import messages as message_store
from dlrhub.store.carrier_ids import EarlyReceipt, Part
from dlrhub.store.database import Database
from dlrhub.store.records import MessageRecord
from dlrhub.store.signals import Signals


@dataclass(frozen=True)
class PartReport:
    """What a carrier said about the part it knows by one of `carrier_keys` (most likely
    first). `status` None: an intermediate state (ENROUTE, ACCEPTD), matched but not applied."""

    carrier_keys: tuple[str, ...]
    status: MessageStatus | None
    error: str | None = None


class ReceiptOutcome(Enum):
    APPLIED = "applied"  # moved its part (and the message, when the parts say so)
    IGNORED = "ignored"  # matched, but intermediate or a repeat
    UNMATCHED = "unmatched"  # no part has its id (yet): kept for a late acceptance


def expected_parts(message: MessageRecord) -> int:
    """How many parts a message's carrier reports on: an SMS is submitted in the parts §2
    counts, a WhatsApp or RCS message as one."""
    return message.total_parts if message.channel is Channel.SMS else 1


def _matching_part(report: PartReport, found: Mapping[str, list[Part]]) -> Part | None:
    for key in report.carrier_keys:
        if found.get(key):
            return found[key][0]  # the newest part with that id: ids are reused over time
    return None


async def apply_part_reports(
    conn: AsyncConnection,
    reports: Sequence[PartReport],
    *,
    now: datetime,
    handover: Handover | None = None,
    keep_unmatched: bool = True,
) -> list[ReceiptOutcome]:
    """Apply part reports in the caller's transaction, in order, with a fixed number of
    statements; unmatched ones are kept for a late acceptance unless `keep_unmatched` is off."""
    # An id longer than any we store names nothing of ours (and could not be kept).
    reports = [
        PartReport(tuple(k for k in r.carrier_keys if _storable_key(k)), r.status, r.error)
        for r in reports
    ]
    found = await carrier_ids.parts_by_keys(
        conn, [key for report in reports for key in report.carrier_keys]
    )
    matched = [_matching_part(report, found) for report in reports]
    ids = sorted({part.message_id for part in matched if part is not None})
    # Locked before the parts are read: two reports on parts of one message, applied by two
    # processes at once, each see the other's part once they get the lock.
    locked = await message_store.lock_by_ids(conn, ids)
    parts = await carrier_ids.parts_of(conn, ids)
    states = {(p.message_id, p.part_index): p.status for group in parts.values() for p in group}
    outcomes: list[ReceiptOutcome] = []
    moves: list[CarrierReport] = []
    early: list[EarlyReceipt] = []
    for report, part in zip(reports, matched, strict=True):
        if part is None:
            outcomes.append(ReceiptOutcome.UNMATCHED)
            if report.carrier_keys:
                early.append(
                    EarlyReceipt(new_id(), report.carrier_keys, report.status, report.error, now)
                )
            continue
        key = (part.message_id, part.part_index)
        message = locked.get(part.message_id)
        if message is None or not _moves_part(states.get(key), report.status):
            outcomes.append(ReceiptOutcome.IGNORED)
            continue
        assert report.status is not None  # _moves_part refuses None
        states[key] = report.status
        outcomes.append(ReceiptOutcome.APPLIED)
        moves.extend(_message_moves(message, states, report))
    await carrier_ids.save_part_statuses(
        conn,
        [
            (message_id, index, status)
            for (message_id, index), status in states.items()
            if status is not None and _changed(parts, message_id, index, status)
        ],
    )
    if keep_unmatched:
        await carrier_ids.keep_early(conn, early)
    await apply_carrier_reports(conn, moves, now=now, locked=locked, handover=handover)
    return outcomes


def _storable_key(key: str) -> bool:
    return 0 < len(key) <= carrier_ids.MAX_KEY_LENGTH and "\x00" not in key


def _moves_part(current: MessageStatus | None, new: MessageStatus | None) -> bool:
    """Whether a part's report moves it: from no report yet to any final state, and from
    DELIVERED to READ; an intermediate, repeated or late report does not."""
    if new is None:
        return False
    if current is None:
        return True
    return current is MessageStatus.DELIVERED and new is MessageStatus.READ


def _message_moves(
    message: MessageRecord,
    states: Mapping[tuple[str, int], MessageStatus | None],
    report: PartReport,
) -> list[CarrierReport]:
    """The message's moves after one of its parts moved. A READ is also a delivery: a read
    never reported delivered emits DELIVERED then READ, in that order (SPEC §11.3); the
    report path drops whichever of the two the message already had."""
    if report.status is MessageStatus.READ:
        return [
            CarrierReport(message.id, MessageStatus.DELIVERED),
            CarrierReport(message.id, MessageStatus.READ),
        ]
    delivered_or_read = {MessageStatus.DELIVERED, MessageStatus.READ}
    parts = [states.get((message.id, index)) for index in range(expected_parts(message))]
    overall = state_of_parts(
        [MessageStatus.DELIVERED if state in delivered_or_read else state for state in parts]
    )
    if overall is None:
        return []
    error = report.error if overall is not MessageStatus.DELIVERED else None
    return [CarrierReport(message.id, overall, error)]


def _changed(parts: Mapping[str, list[Part]], message_id: str, index: int, status: object) -> bool:
    return any(p.part_index == index and p.status != status for p in parts.get(message_id, []))


async def apply_early_receipts(
    conn: AsyncConnection, new_parts: Sequence[Part], *, now: datetime, handover: Handover | None
) -> int:
    """After parts were recorded: apply the kept receipts that name them; how many."""
    kept = await carrier_ids.early_for_keys(conn, [part.carrier_key for part in new_parts])
    return await _apply_kept(conn, kept, now=now, handover=handover)


async def _apply_kept(
    conn: AsyncConnection,
    kept: Sequence[EarlyReceipt],
    *,
    now: datetime,
    handover: Handover | None,
) -> int:
    if not kept:
        return 0
    reports = [PartReport(receipt.carrier_keys, receipt.status, receipt.error) for receipt in kept]
    await apply_part_reports(conn, reports, now=now, handover=handover, keep_unmatched=False)
    await carrier_ids.drop_early(conn, [receipt.receipt_id for receipt in kept])
    return len(kept)


class CarrierReceipts:
    """Part reports written by group commit: concurrent receipts share one transaction, and
    each caller learns its receipt's outcome only once that transaction has committed (an
    SMPP receipt is acknowledged then, never before)."""

    def __init__(self, db: Database, signals: Signals, clock: Clock) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self.taker: DeliveryTaker | None = None
        self._handover: Handover | None = None
        self._commits = GroupCommit[PartReport, ReceiptOutcome](
            db, self._apply, after_commit=self._wake, max_batch=500
        )

    async def report(self, report: PartReport) -> ReceiptOutcome:
        return await self._commits.submit(report)

    async def _apply(
        self, conn: AsyncConnection, reports: list[PartReport]
    ) -> Sequence[ReceiptOutcome]:
        now = self._clock()
        self._handover = None if self.taker is None else Handover.to(self.taker, now)
        return await apply_part_reports(conn, reports, now=now, handover=self._handover)

    async def sweep(self, *, keep_for: timedelta, batch: int = 500) -> int:
        """Apply kept receipts whose part was recorded meanwhile, and forget those kept longer
        than `keep_for`; how many were applied.

        On PostgreSQL a receipt and the acceptance it reports on can commit at the same time
        from two processes, neither seeing the other's row: the receipt is kept and the
        acceptance finds nothing to apply. This sweep closes that gap (the connectors run it
        every poll interval); on SQLite writers take turns and it finds nothing."""
        now = self._clock()
        async with self._db.transaction() as conn:
            kept = await carrier_ids.early_with_parts(conn, batch)
            applied = await _apply_kept(conn, kept, now=now, handover=None)
            await carrier_ids.prune_early(conn, now - keep_for)
        if applied:
            self._signals.deliveries_queued()
        return applied

    def _wake(self, outcomes: list[ReceiptOutcome]) -> None:
        if self._handover is not None:
            self._handover.hand_over()
            self._handover = None
        if ReceiptOutcome.APPLIED in outcomes:
            self._signals.deliveries_queued()
