"""The report log (docs/receipt-timeouts.md): every carrier report on a message, applied or
not, so one that changed nothing (late, repeated, intermediate) stays visible."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.receipt_timeouts import LogOutcome
from dlrhub.domain.status import MessageStatus
from dlrhub.store.schema import report_log


@dataclass(frozen=True)
class LoggedReport:
    message_id: str
    received_at: datetime
    status: MessageStatus | None  # None: an intermediate report
    outcome: LogOutcome
    detail: str | None


async def insert(conn: AsyncConnection, rows: Sequence[LoggedReport]) -> None:
    """One statement for the batch."""
    if not rows:
        return
    await conn.execute(
        report_log.insert(),
        [
            {
                "message_id": row.message_id,
                "received_at": row.received_at,
                "status": None if row.status is None else row.status.value,
                "outcome": row.outcome.value,
                "detail": row.detail,
            }
            for row in rows
        ],
    )


async def of_message(conn: AsyncConnection, message_id: str) -> list[LoggedReport]:
    """A message's reports in the order they were applied."""
    rows = await conn.execute(
        select(report_log)
        .where(report_log.c.message_id == message_id)
        .order_by(report_log.c.received_at, report_log.c.id)
    )
    return [
        LoggedReport(
            message_id=row.message_id,
            received_at=row.received_at,
            status=None if row.status is None else MessageStatus(row.status),
            outcome=LogOutcome(row.outcome),
            detail=row.detail,
        )
        for row in rows
    ]
