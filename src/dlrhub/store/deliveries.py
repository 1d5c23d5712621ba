"""The delivery queue: claim due deliveries under a lease, record attempts in batches."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.delivery_state import SENDABLE, DeliveryState
from dlrhub.store.accounts import live_secrets
from dlrhub.store.engine import lock_for_claim
from dlrhub.store.records import AttemptOutcome, DeliveryJob, WebhookRecord
from dlrhub.store.schema import (
    SENDABLE_PREDICATE,
    deliveries,
    delivery_attempts,
    events,
    webhooks,
)

# Spelled as literal SQL so PostgreSQL can match the partial index `ix_deliveries_due`.
_SENDABLE = text(f"deliveries.{SENDABLE_PREDICATE}")


def _not_waiting_for_an_earlier_event() -> ColumnElement[bool]:
    """A delivery may go unless an earlier event of its message to its webhook is still to
    send (pending or retrying): per-message order (docs/ordering.md). Deliveries without a
    message, and webhooks with `ordering: none`, never wait. The subquery is what the partial
    index `ix_deliveries_order` holds: (webhook, message, sequence) of sendable deliveries."""
    earlier = deliveries.alias("earlier")
    unordered = select(webhooks.c.id).where(webhooks.c.ordering == "none")
    waiting = (
        select(earlier.c.id)
        .where(
            earlier.c.webhook_id == deliveries.c.webhook_id,
            earlier.c.message_id == deliveries.c.message_id,
            earlier.c.sequence < deliveries.c.sequence,
            text(f"earlier.message_id IS NOT NULL AND earlier.{SENDABLE_PREDICATE}"),
        )
        .exists()
    )
    # Cheapest first (PostgreSQL evaluates an OR in the order written): a webhook that
    # opted out, an event without a message and a message's first event never need the
    # probe, which measured at 15-30 µs per candidate otherwise.
    return or_(
        deliveries.c.webhook_id.in_(unordered.scalar_subquery()),
        deliveries.c.message_id.is_(None),
        deliveries.c.sequence <= 1,
        ~waiting,
    )


async def claim_due(
    conn: AsyncConnection,
    *,
    now: datetime,
    lease_until: datetime,
    worker: str,
    limit: int,
    exclude_webhooks: Collection[str] = (),
) -> list[str]:
    """Lease up to `limit` due deliveries to `worker` in one statement; returns their ids.

    `exclude_webhooks` are webhooks this worker will not send to right now (at their
    concurrency limit, or paused by the circuit breaker); disabled webhooks are skipped.
    """
    disabled = select(webhooks.c.id).where(webhooks.c.disabled_at.is_not(None))
    query = select(deliveries.c.id).where(
        _SENDABLE,
        deliveries.c.next_attempt_at <= now,
        or_(deliveries.c.lease_expires_at.is_(None), deliveries.c.lease_expires_at < now),
        deliveries.c.webhook_id.not_in(disabled.scalar_subquery()),
        _not_waiting_for_an_earlier_event(),
    )
    if exclude_webhooks:
        query = query.where(deliveries.c.webhook_id.not_in(list(exclude_webhooks)))
    due = lock_for_claim(query.order_by(deliveries.c.next_attempt_at).limit(limit), "due")
    rows = await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(select(due.c.id)))
        .values(lease_expires_at=lease_until, leased_by=worker)
        .returning(deliveries.c.id)
    )
    return [row.id for row in rows]


async def load_jobs(
    conn: AsyncConnection, delivery_ids: Sequence[str], now: datetime
) -> list[DeliveryJob]:
    """The claimed deliveries with their event, webhook and the account's live secrets.

    A batch usually holds many deliveries per webhook: each webhook and each account's
    secrets are read and built once per batch, not once per delivery.
    """
    if not delivery_ids:
        return []
    rows = (
        await conn.execute(
            select(
                deliveries.c.id,
                deliveries.c.attempts,
                deliveries.c.webhook_id,
                deliveries.c.message_id,
                events.c.id.label("event_id"),
                events.c.account_id,
                events.c.event_type,
                events.c.payload,
                events.c.report,
            )
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.id.in_(list(delivery_ids)))
        )
    ).all()
    hooks = {
        row.id: WebhookRecord.from_row(row)
        for row in await conn.execute(
            select(webhooks).where(webhooks.c.id.in_({row.webhook_id for row in rows}))
        )
    }
    secrets = {
        account_id: [secret for secret, _, _ in live]
        for account_id, live in (
            await live_secrets(conn, sorted({row.account_id for row in rows}), now)
        ).items()
    }
    return [
        DeliveryJob(
            delivery_id=row.id,
            attempts=row.attempts,
            account_id=row.account_id,
            event_id=row.event_id,
            event_type=row.event_type,
            payload=row.payload,
            webhook=hooks[row.webhook_id],
            secrets=secrets.get(row.account_id, []),
            webhook_values=dict(row.report),
            message_id=row.message_id,
        )
        for row in rows
    ]


async def record_outcomes(
    conn: AsyncConnection, outcomes: Sequence[AttemptOutcome], now: datetime
) -> None:
    """Log every attempt and move every delivery on, in two batched statements."""
    if not outcomes:
        return
    await conn.execute(
        delivery_attempts.insert(),
        [
            {
                "delivery_id": o.delivery_id,
                "attempted_at": o.attempted_at,
                "duration_ms": o.duration_ms,
                "response_status": o.response_status,
                "response_body": o.response_body,
                "error": o.error,
            }
            for o in outcomes
        ],
    )
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            last_error=bindparam("b_error"),
            lease_expires_at=None,
            leased_by=None,
            updated_at=now,
        ),
        [
            {
                "b_id": o.delivery_id,
                "b_status": o.new_status,
                "b_attempts": o.attempts,
                "b_next": o.next_attempt_at,
                "b_error": o.error,
            }
            for o in outcomes
        ],
    )


@dataclass(frozen=True)
class HealthChange:
    """A webhook whose health just changed, with what an alert about it says."""

    webhook_id: str
    account_id: str
    kind: str
    url: str
    failing_since: datetime | None
    disabled_at: datetime | None
    last_error: str | None = None


@dataclass(frozen=True)
class HealthChanges:
    """What one batch of outcomes did to webhooks (docs/alerts.md)."""

    # Failing for `warn_after` and not yet warned in this streak.
    failing: list[HealthChange] = field(default_factory=list)
    disabled: list[HealthChange] = field(default_factory=list)
    # Succeeded again after a warning, or after being disabled and re-enabled.
    recovered: list[HealthChange] = field(default_factory=list)


_CHANGED = (
    webhooks.c.id,
    webhooks.c.account_id,
    webhooks.c.kind,
    webhooks.c.url,
    webhooks.c.failing_since,
    webhooks.c.disabled_at,
)


def _changes(rows: Any, latest: dict[str, AttemptOutcome]) -> list[HealthChange]:
    found = [
        HealthChange(
            webhook_id=row.id,
            account_id=row.account_id,
            kind=row.kind,
            url=row.url,
            failing_since=row.failing_since,
            disabled_at=row.disabled_at,
            last_error=latest[row.id].error,
        )
        for row in rows
    ]
    return sorted(found, key=lambda change: change.webhook_id)


async def update_webhook_health(
    conn: AsyncConnection,
    latest: dict[str, AttemptOutcome],
    now: datetime,
    disable_after: timedelta,
    warn_after: timedelta | None = None,
) -> HealthChanges:
    """Track each webhook's failure streak from its latest outcome, and disable the ones
    that have failed every attempt for `disable_after`; mark the ones failing for
    `warn_after` as warned (once per streak: `warned_at` from before the streak began does
    not count) and the warned ones that succeed again as recovered.

    Every mark is an UPDATE ... RETURNING of the rows it changed, so of two workers
    recording at once (PostgreSQL) only one sees each change."""
    healthy = [w for w, o in latest.items() if o.new_status == DeliveryState.SUCCEEDED]
    failing = [w for w, o in latest.items() if o.new_status != DeliveryState.SUCCEEDED]
    changes = HealthChanges()
    if healthy:
        # Read with the streak it ends: before failing_since is cleared. A webhook still
        # disabled (an attempt in flight when it was disabled) has not recovered.
        recovered = await conn.execute(
            update(webhooks)
            .where(
                webhooks.c.id.in_(healthy),
                webhooks.c.warned_at.is_not(None),
                webhooks.c.disabled_at.is_(None),
            )
            .values(warned_at=None)
            .returning(*_CHANGED)
        )
        changes.recovered.extend(_changes(recovered, latest))
        await conn.execute(
            update(webhooks)
            .where(webhooks.c.id.in_(healthy))
            .values(failing_since=None, last_success_at=now)
        )
    if not failing:
        return changes
    await conn.execute(
        update(webhooks)
        .where(webhooks.c.id.in_(failing))
        .values(failing_since=func.coalesce(webhooks.c.failing_since, now), last_failure_at=now)
    )
    disabled = await conn.execute(
        update(webhooks)
        .where(
            webhooks.c.id.in_(failing),
            webhooks.c.disabled_at.is_(None),
            webhooks.c.failing_since <= now - disable_after,
        )
        .values(
            disabled_at=now,
            disabled_reason=f"disabled automatically: every attempt failed for "
            f"{_describe(disable_after)}",
            # A disabled webhook counts as warned: its first success once re-enabled is
            # a recovery.
            warned_at=now,
            updated_at=now,
        )
        .returning(*_CHANGED)
    )
    changes.disabled.extend(_changes(disabled, latest))
    if warn_after is not None:
        warned = await conn.execute(
            update(webhooks)
            .where(
                webhooks.c.id.in_(failing),
                webhooks.c.disabled_at.is_(None),
                webhooks.c.failing_since <= now - warn_after,
                or_(
                    webhooks.c.warned_at.is_(None),
                    webhooks.c.warned_at < webhooks.c.failing_since,
                ),
            )
            .values(warned_at=now)
            .returning(*_CHANGED)
        )
        changes.failing.extend(_changes(warned, latest))
    return changes


def _describe(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 24 else f"{hours:g} hours"


async def queue_depth(conn: AsyncConnection, now: datetime) -> dict[str, int]:
    """Deliveries still to send, by state; reads only the small partial index."""
    rows = await conn.execute(
        select(deliveries.c.status, func.count()).where(_SENDABLE).group_by(deliveries.c.status)
    )
    depth = {str(state): 0 for state in SENDABLE}
    depth.update({row[0]: int(row[1]) for row in rows})
    due = await conn.execute(
        select(func.count()).where(_SENDABLE, deliveries.c.next_attempt_at <= now)
    )
    depth["due"] = int(due.scalar_one())
    return depth


async def renew_leases(
    conn: AsyncConnection, delivery_ids: Sequence[str], worker: str, lease_until: datetime
) -> None:
    """Extend the leases this worker still holds (deliveries waiting in its buffer)."""
    if not delivery_ids:
        return
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(list(delivery_ids)), deliveries.c.leased_by == worker)
        .values(lease_expires_at=lease_until)
    )


async def release(conn: AsyncConnection, delivery_ids: Sequence[str]) -> None:
    """Give back leases on deliveries that were claimed but not attempted."""
    if not delivery_ids:
        return
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(list(delivery_ids)))
        .values(lease_expires_at=None, leased_by=None)
    )


async def earliest_due(conn: AsyncConnection) -> datetime | None:
    """When the next unleased delivery becomes due.

    Walks the due index in order and stops at the first unleased row, so it costs the same
    with a backlog of a million as with ten. Leased deliveries are left out: a lease runs
    out long after the poll interval, and the dispatcher polls anyway.
    """
    value: datetime | None = (
        await conn.execute(
            select(deliveries.c.next_attempt_at)
            .where(
                _SENDABLE,
                deliveries.c.lease_expires_at.is_(None),
                _not_waiting_for_an_earlier_event(),
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    return value
