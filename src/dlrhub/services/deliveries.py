"""The delivery log and replay (SPEC §9): what was sent where, and sending it again."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain import timestamps
from dlrhub.domain.clock import Clock
from dlrhub.domain.delivery_state import DELIVERY_STATES
from dlrhub.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from dlrhub.domain.outgoing import RESPONSE_EXCERPT_BYTES
from dlrhub.domain.routing import DELIVERY_STATUS_ID, public_webhook_id
from dlrhub.domain.text import is_storable
from dlrhub.store import delivery_log as store
from dlrhub.store import webhooks as webhook_store
from dlrhub.store.database import Database
from dlrhub.store.records import WebhookRecord
from dlrhub.store.signals import Signals
from dlrhub.store.webhooks import DELIVERY_STATUS

__all__ = [
    "AttemptView",
    "DeliveryDetail",
    "DeliveryLog",
    "DeliveryPage",
    "DeliveryView",
]

MAX_LIMIT = 200
MAX_CURSOR_CHARS = 256


@dataclass(frozen=True)
class DeliveryView:
    id: str
    event_id: str
    webhook_id: str  # "delivery-status" for the account's delivery-status webhook
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class AttemptView:
    attempted_at: datetime
    duration_ms: int
    response_status: int | None
    response_body: str | None
    error: str | None


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: DeliveryView
    attempts: list[AttemptView]


@dataclass(frozen=True)
class DeliveryPage:
    items: list[DeliveryView]
    next_cursor: str | None


def _view(row: Any) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        event_id=row.event_id,
        webhook_id=public_webhook_id(
            row.webhook_id, is_delivery_status=row.webhook_kind == DELIVERY_STATUS
        ),
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
    )


def encode_cursor(created_at: datetime, delivery_id: str) -> str:
    raw = json.dumps([created_at.astimezone(UTC).isoformat(), delivery_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a `nextCursor` stands for; InvalidInput for anything else."""
    try:
        # Ours are ~110 characters; a long one is not ours (and could nest JSON deep enough
        # to exhaust the decoder's recursion).
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long to be a cursor")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, delivery_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
        if not isinstance(delivery_id, str) or not is_storable(delivery_id):
            raise ValueError("not a delivery id")  # a NUL would be a database error
        if moment.tzinfo is None:
            raise ValueError("not a cursor")
        moment = moment.astimezone(UTC)
    except (
        binascii.Error,
        ValueError,
        TypeError,
        UnicodeDecodeError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise InvalidInput(
            "cursor is not one this API returned",
            errors=[FieldError("cursor", "must be a nextCursor returned by this API")],
        ) from exc
    return moment, delivery_id


def as_utc(moment: datetime, field: str) -> datetime:
    """`moment` in UTC (naive means UTC already); InvalidInput if it cannot be one."""
    try:
        return timestamps.as_utc(moment)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(
            f"{field} is out of range", errors=[FieldError(field, "is out of range")]
        ) from exc


async def _webhook(conn: AsyncConnection, account_id: str, webhook_id: str) -> WebhookRecord:
    webhook = await webhook_store.webhook_by_public_id(conn, account_id, webhook_id)
    if webhook is None:
        raise NotFound(f"no webhook with id {webhook_id!r}")
    return webhook


class DeliveryLog:
    def __init__(self, db: Database, signals: Signals, clock: Clock) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock

    async def list(
        self,
        account_id: str,
        *,
        status: str | None = None,
        webhook_id: str | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> DeliveryPage:
        """Newest first; `next_cursor` is None on the last page."""
        problems: list[FieldError] = []
        if status is not None and status not in DELIVERY_STATES:
            problems.append(FieldError("status", f"must be one of {', '.join(DELIVERY_STATES)}"))
        if not 1 <= limit <= MAX_LIMIT:
            problems.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
        if problems:
            raise InvalidInput(
                "; ".join(f"{p.field}: {p.message}" for p in problems), errors=problems
            )
        after = None if cursor is None else decode_cursor(cursor)
        is_ds = webhook_id == DELIVERY_STATUS_ID
        async with self._db.reading() as conn:
            rows = await store.page(
                conn,
                account_id,
                status=status,
                webhook_id=None if is_ds else webhook_id,
                webhook_kind=DELIVERY_STATUS if is_ds else None,
                since=None if since is None else as_utc(since, "since"),
                after=after,
                limit=limit + 1,
            )
        items = [_view(row) for row in rows[:limit]]
        more = len(rows) > limit
        last = items[-1] if more else None
        next_cursor = None if last is None else encode_cursor(last.created_at, last.id)
        return DeliveryPage(items=items, next_cursor=next_cursor)

    async def get(self, account_id: str, delivery_id: str) -> DeliveryDetail:
        async with self._db.reading() as conn:
            row = await store.one(conn, account_id, delivery_id)
            if row is None:
                raise NotFound(f"no delivery with id {delivery_id!r}")
            attempts = await store.attempts(conn, delivery_id)
        return DeliveryDetail(
            delivery=_view(row),
            attempts=[
                AttemptView(
                    attempted_at=a.attempted_at,
                    duration_ms=a.duration_ms,
                    response_status=a.response_status,
                    response_body=None
                    if a.response_body is None
                    # A no-op for what the dispatcher stored (decoded from at most as many
                    # bytes), kept so the API's "first 1 KiB" holds for any row.
                    else a.response_body[:RESPONSE_EXCERPT_BYTES],
                    error=a.error,
                )
                for a in attempts
            ],
        )

    async def retry(self, account_id: str, delivery_id: str) -> DeliveryView:
        """Send this delivery again now, whatever its state (even dead or succeeded). It
        keeps its attempt count: if this attempt fails, the usual schedule decides what next."""
        async with self._db.transaction() as conn:
            row = await store.one(conn, account_id, delivery_id)
            if row is None:
                raise NotFound(f"no delivery with id {delivery_id!r}")
            if row.webhook_deleted_at is not None:
                raise Conflict("this delivery's webhook was deleted; nothing is sent to it")
            if row.webhook_disabled_at is not None:
                raise Conflict("this delivery's webhook is disabled; update it to enable it")
            await store.requeue(conn, delivery_id, self._clock())
            row = await store.one(conn, account_id, delivery_id)
        self._signals.deliveries_queued()
        return _view(row)

    async def webhook(self, account_id: str, webhook_id: str) -> WebhookRecord:
        """The webhook the log names `webhook_id`: a webhook's id or DELIVERY_STATUS_ID."""
        async with self._db.reading() as conn:
            return await _webhook(conn, account_id, webhook_id)

    async def recover(self, account_id: str, webhook_id: str, since: datetime) -> int:
        """Requeue every failed or dead delivery to this webhook created since `since`; they
        are sent with their original `webhook-id`. Returns how many were requeued."""
        since = as_utc(since, "since")
        async with self._db.transaction() as conn:
            webhook = await _webhook(conn, account_id, webhook_id)
            if webhook.disabled_at is not None:
                raise Conflict("this webhook is disabled; update it to enable it first")
            count = await store.requeue_failed(conn, account_id, webhook.id, since, self._clock())
        if count:
            self._signals.deliveries_queued()
        return count
