"""Every carrier report in its message's history (docs/receipt-timeouts.md).

`apply_carrier_reports` (the one report path) hands each batch here, so the log is written in
the transaction that applied the reports, with one statement a batch, and a report that
changed nothing, above all a late receipt after a timeout, is counted and stays visible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.receipt_timeouts import log_outcome
from dlrhub.domain.status import MessageStatus
from dlrhub.metrics import CARRIER_REPORTS
from dlrhub.store import report_log
from dlrhub.store.records import MessageRecord
from dlrhub.store.report_log import LoggedReport

_APPLIED = "applied"
_UNKNOWN = "unknown"
_SETS_ERROR = frozenset({MessageStatus.ERROR, MessageStatus.EXPIRED})


class Report(Protocol):
    """What the log reads of a report (`status_changes.CarrierReport` has it)."""

    @property
    def message_id(self) -> str: ...
    @property
    def status(self) -> MessageStatus | None: ...
    @property
    def error(self) -> str | None: ...


async def log_reports(
    conn: AsyncConnection,
    reports: Sequence[Report],
    outcomes: Sequence[str],
    before: Mapping[str, MessageRecord],
    now: datetime,
) -> None:
    """Log `reports` with their `outcomes` (the report path's: applied, ignored, unknown),
    given their messages as they were `before` the batch. The batch is replayed in order, so
    a report follows the moves of those before it (a timeout, then a late receipt). Reports
    on no message are not logged (the report path counts those)."""
    state = {id_: (message.status, message.error) for id_, message in before.items()}
    rows: list[LoggedReport] = []
    for report, outcome in zip(reports, outcomes, strict=True):
        if outcome == _UNKNOWN or report.message_id not in state:
            continue
        status, error = state[report.message_id]
        logged = log_outcome(outcome == _APPLIED, status, error)
        if outcome == _APPLIED and report.status is not None:
            moved_error = report.error if report.status in _SETS_ERROR else error
            state[report.message_id] = (report.status, moved_error)
        rows.append(LoggedReport(report.message_id, now, report.status, logged, report.error))
    await report_log.insert(conn, rows)
    for row in rows:
        CARRIER_REPORTS.labels(row.outcome.value).inc()


@dataclass(frozen=True)
class MessageReports:
    """A message and every carrier report on it, oldest first."""

    message: MessageRecord
    reports: list[LoggedReport]


async def history(conn: AsyncConnection, message: MessageRecord) -> MessageReports:
    return MessageReports(message, await report_log.of_message(conn, message.id))
