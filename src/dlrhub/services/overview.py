"""Read-only summaries for people: account health, a message's history, delivery attempt logs.

Reads only (nothing here changes state), used by the dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dlrhub.domain.status import MessageStatus
from dlrhub.store import overview as store
from dlrhub.store.database import Database
from dlrhub.store.overview import AttemptRow, EventDeliveryRow, WebhookHealthRow
from dlrhub.store.records import MessageRecord


@dataclass(frozen=True)
class WebhookHealth:
    webhook_id: str
    url: str
    disabled: bool
    failing_since: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None

    @property
    def failing(self) -> bool:
        """Disabled, or in a failure streak (the dispatcher's own record, as `dlrhub status`)."""
        return self.disabled or self.failing_since is not None


@dataclass(frozen=True)
class AccountHealth:
    pending: int
    webhooks: list[WebhookHealth]

    @property
    def failing(self) -> list[WebhookHealth]:
        return [w for w in self.webhooks if w.failing]


@dataclass(frozen=True)
class StatusStep:
    status: MessageStatus
    at: datetime


@dataclass(frozen=True)
class MessageEvent:
    id: str
    event_type: str
    occurred_at: datetime
    payload: dict[str, object]
    deliveries: list[EventDeliveryRow] = field(default_factory=list)


@dataclass(frozen=True)
class MessageHistory:
    steps: list[StatusStep]
    events: list[MessageEvent]


class Overview:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def account_health(self, account_id: str) -> AccountHealth:
        """Deliveries still to send, and per webhook its latest success and failure."""
        async with self._db.reading() as conn:
            pending = await store.pending_count(conn, account_id)
            rows = await store.webhook_health(conn, account_id)
        return _health(pending, rows)

    async def message_history(self, account_id: str, message: MessageRecord) -> MessageHistory:
        """The statuses a message went through (with when) and the events it produced."""
        async with self._db.reading() as conn:
            event_rows, delivery_rows = await store.message_events(conn, account_id, message.id)
        events = [
            MessageEvent(
                id=e.id,
                event_type=e.event_type,
                occurred_at=e.occurred_at,
                payload=_decoded(e.payload),
                deliveries=[d for d in delivery_rows if d.event_id == e.id],
            )
            for e in event_rows
        ]
        return MessageHistory(steps=_steps(message, events), events=events)

    async def attempt_logs(
        self, account_id: str, delivery_ids: Sequence[str]
    ) -> dict[str, list[AttemptRow]]:
        """The attempts of each of `delivery_ids` (of this account only), oldest first."""
        async with self._db.reading() as conn:
            rows = await store.attempts_of(conn, account_id, delivery_ids)
        logs: dict[str, list[AttemptRow]] = {delivery_id: [] for delivery_id in delivery_ids}
        for row in rows:
            logs.setdefault(row.delivery_id, []).append(row)
        return logs


def _health(pending: int, rows: Sequence[WebhookHealthRow]) -> AccountHealth:
    return AccountHealth(
        pending=pending,
        webhooks=[
            WebhookHealth(
                webhook_id=r.webhook_id,
                url=r.url,
                disabled=r.disabled,
                failing_since=r.failing_since,
                last_success_at=r.last_success_at,
                last_failure_at=r.last_failure_at,
            )
            for r in rows
        ],
    )


def _steps(message: MessageRecord, events: list[MessageEvent]) -> list[StatusStep]:
    # Statuses only move forward (SENT → outcome → READ), so the record's timestamps are the
    # history; an ERROR or EXPIRED outcome takes its time from its event when there is one.
    steps = [StatusStep(MessageStatus.SENT, message.sent_at)]
    if message.delivered_at is not None:
        steps.append(StatusStep(MessageStatus.DELIVERED, message.delivered_at))
    if message.status in (MessageStatus.ERROR, MessageStatus.EXPIRED):
        at = next(
            (e.occurred_at for e in events if e.payload.get("status") == message.status.value),
            message.updated_at,
        )
        steps.append(StatusStep(message.status, at))
    if message.read_at is not None:
        steps.append(StatusStep(MessageStatus.READ, message.read_at))
    return steps


def _decoded(payload: str) -> dict[str, object]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
