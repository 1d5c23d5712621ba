"""The connectors' durable queue (SPEC §11): real messages waiting for their hand-over.

A row is written in the send's transaction and claimed under a lease, like a delivery: any
worker may submit it, and a worker that dies mid-submission leaves a lease that runs out, so
the message is submitted again (the duplicate window the docs name). The row is deleted in the
transaction that records the carrier's final answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.status import Channel
from dlrhub.store.engine import SUBMISSIONS_CHANNEL, lock_for_claim, notify
from dlrhub.store.records import MessageRecord
from dlrhub.store.schema import messages, submissions


@dataclass(frozen=True)
class Submission:
    """A claimed submission: the message, and how far its hand-over got."""

    message: MessageRecord
    tries: int
    first_tried_at: datetime | None


@dataclass(frozen=True)
class Retry:
    """A submission to try again at `next_attempt_at` (its lease released)."""

    message_id: str
    tries: int
    first_tried_at: datetime
    next_attempt_at: datetime
    last_error: str


async def queue(conn: AsyncConnection, items: Sequence[tuple[str, Channel]], now: datetime) -> None:
    """Queue (message id, channel) pairs for their hand-over, due now; wakes the submitters."""
    if not items:
        return
    await conn.execute(
        submissions.insert(),
        [
            {"message_id": id_, "channel": channel.value, "tries": 0, "next_attempt_at": now}
            | {"created_at": now}
            for id_, channel in items
        ],
    )
    await notify(conn, SUBMISSIONS_CHANNEL)


async def claim_due(
    conn: AsyncConnection,
    *,
    channel: Channel,
    now: datetime,
    lease_until: datetime,
    worker: str,
    limit: int,
) -> list[Submission]:
    """Lease up to `limit` due submissions of `channel` to `worker`, oldest due first."""
    query = select(submissions.c.message_id).where(
        submissions.c.channel == channel.value,
        submissions.c.next_attempt_at <= now,
        or_(submissions.c.lease_expires_at.is_(None), submissions.c.lease_expires_at < now),
    )
    due = lock_for_claim(query.order_by(submissions.c.next_attempt_at).limit(limit), "due")
    claimed = await conn.execute(
        update(submissions)
        .where(submissions.c.message_id.in_(select(due.c.message_id)))
        .values(lease_expires_at=lease_until, leased_by=worker)
        .returning(submissions.c.message_id)
    )
    ids = [row.message_id for row in claimed]
    if not ids:
        return []
    rows = await conn.execute(
        select(messages, submissions.c.tries, submissions.c.first_tried_at)
        .join(submissions, submissions.c.message_id == messages.c.id)
        .where(messages.c.id.in_(ids))
        .order_by(submissions.c.next_attempt_at, messages.c.id)
    )
    return [Submission(MessageRecord.from_row(row), row.tries, row.first_tried_at) for row in rows]


async def finish(conn: AsyncConnection, message_ids: Sequence[str]) -> None:
    """The carrier accepted or refused these for good: nothing more to submit."""
    if message_ids:
        await conn.execute(delete(submissions).where(submissions.c.message_id.in_(message_ids)))


async def reschedule(conn: AsyncConnection, retries: Sequence[Retry]) -> None:
    """Release these submissions' leases, each due again at its time."""
    if not retries:
        return
    await conn.execute(
        update(submissions)
        .where(submissions.c.message_id == bindparam("s_id"))
        .values(
            tries=bindparam("s_tries"),
            first_tried_at=bindparam("s_first"),
            next_attempt_at=bindparam("s_next"),
            last_error=bindparam("s_error"),
            lease_expires_at=None,
            leased_by=None,
        ),
        [
            {
                "s_id": retry.message_id,
                "s_tries": retry.tries,
                "s_first": retry.first_tried_at,
                "s_next": retry.next_attempt_at,
                "s_error": retry.last_error,
            }
            for retry in retries
        ],
    )


async def release(conn: AsyncConnection, message_ids: Sequence[str], worker: str) -> None:
    """Give back leases this worker holds on submissions it did not try (shutting down)."""
    if message_ids:
        await conn.execute(
            update(submissions)
            .where(submissions.c.message_id.in_(message_ids), submissions.c.leased_by == worker)
            .values(lease_expires_at=None, leased_by=None)
        )


async def earliest_due(conn: AsyncConnection, channel: Channel) -> datetime | None:
    """When the next submission of `channel` is due (leased ones: when their lease ends)."""
    # A leased row was due when claimed, so it is due again when its lease ends.
    due = func.coalesce(submissions.c.lease_expires_at, submissions.c.next_attempt_at)
    value: datetime | None = (
        await conn.execute(select(func.min(due)).where(submissions.c.channel == channel.value))
    ).scalar_one_or_none()
    return value


async def depth(conn: AsyncConnection) -> dict[str, int]:
    """Submissions waiting, per channel."""
    rows = await conn.execute(
        select(submissions.c.channel, func.count()).group_by(submissions.c.channel)
    )
    return {row[0]: int(row[1]) for row in rows}
