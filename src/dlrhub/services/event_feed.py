"""Catch-up after an outage (issue 13, docs/catch-up.md): an account's events in the order
they were committed, behind a stable cursor, so a receiver that was down can pull them.

The order is the events' `position`, given after their commit by a sequencer (`run`, in every
process that runs workers). One sequencer at a time takes the committed events that have no
position, oldest first, and numbers them on from the highest position given so far. Readers
only see positioned events, in position order; since every later sequencer's numbers are
larger, whatever a reader sees after a page has a larger position than that page's last
event: paging with `after` never skips an event, even one whose transaction committed after
a later-created event's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from dlrhub.domain.clock import Clock
from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.store import event_feed as store
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals, wait_for_any

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "EventFeed", "EventPage", "FeedEvent"]

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Events numbered per sequencer transaction: short enough to hold the lock briefly.
SEQUENCE_BATCH = 1000
# How soon the sequencer looks again while events keep arriving.
BUSY_INTERVAL_S = 0.1

# Cursors are opaque to clients: "p" and the position, base64url without padding.
_CURSOR_PREFIX = "p"
_MAX_CURSOR_CHARS = 40
_MAX_POSITION = (1 << 63) - 1  # a BIGINT


@dataclass(frozen=True)
class FeedEvent:
    cursor: str
    event_id: str
    event_type: str
    message_id: str | None
    created_at: datetime
    # The body sent to the delivery-status webhook, decoded (its keys in their order).
    payload: dict[str, Any]


@dataclass(frozen=True)
class EventPage:
    events: list[FeedEvent]
    # The last event's cursor; the given one (or None: from the start) when the page is empty.
    next_cursor: str | None


def encode_cursor(position: int) -> str:
    raw = f"{_CURSOR_PREFIX}{position}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor stands for; InvalidInput for anything this API did not return."""
    try:
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise ValueError("too long to be a cursor")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        digits = raw.removeprefix(_CURSOR_PREFIX)
        # ASCII digits only (int() would take "+1", " 1", "1_0" and other scripts' digits).
        if not raw.startswith(_CURSOR_PREFIX) or not digits.isascii() or not digits.isdigit():
            raise ValueError("not a cursor")
        position = int(digits)
        if position > _MAX_POSITION or encode_cursor(position) != cursor:
            raise ValueError("not a cursor")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "after is not a cursor this API returned",
            errors=[FieldError("after", "must be a cursor or nextCursor returned by this API")],
        ) from exc
    return position


def _feed_event(row: Any) -> FeedEvent:
    payload = json.loads(row.payload)
    return FeedEvent(
        cursor=encode_cursor(int(row.position)),
        event_id=row.id,
        event_type=row.event_type,
        message_id=row.message_id,
        created_at=row.created_at,
        payload=payload,
    )


class EventFeed:
    def __init__(
        self,
        db: Database,
        signals: Signals,
        clock: Clock,
        *,
        poll_interval_s: float,
        batch: int = SEQUENCE_BATCH,
        busy_interval_s: float = BUSY_INTERVAL_S,
    ) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._batch = batch
        self._busy_interval_s = busy_interval_s

    async def page(
        self, account_id: str, after: str | None, limit: int = DEFAULT_LIMIT
    ) -> EventPage:
        """The account's positioned events after the cursor `after` (None: from the first)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(
                f"limit must be between 1 and {MAX_LIMIT}",
                errors=[FieldError("limit", f"must be between 1 and {MAX_LIMIT}")],
            )
        position = None if after is None else decode_cursor(after)
        async with self._db.reading() as conn:
            rows = await store.page(conn, account_id, position, limit)
        items = [_feed_event(row) for row in rows]
        return EventPage(items, items[-1].cursor if items else after)

    async def sequence_pending(self) -> int:
        """Give positions to one batch of committed events that have none, in creation order;
        returns how many (a full batch: call again, more may wait)."""
        async with self._db.reading() as conn:
            # Checked without the write lock: an idle sequencer costs no writer anything.
            if not await store.has_unpositioned(conn):
                return 0
        async with self._db.transaction() as conn:
            await store.lock_sequencer(conn)
            ids = await store.unpositioned(conn, self._batch)
            if not ids:
                return 0  # another sequencer numbered them meanwhile
            highest = await store.max_position(conn)
            first = store.position_floor(self._clock()) if highest is None else highest + 1
            await store.assign_positions(conn, ids, first)
        return len(ids)

    async def run(self, stop: asyncio.Event) -> None:
        """Sequence until `stop`: again after `busy_interval_s` while events keep coming,
        otherwise when deliveries are queued (most new events queue some) or every poll
        interval (events no webhook receives). A failed pass is logged and tried again."""
        while not stop.is_set():
            try:
                numbered = await self.sequence_pending()
            except Exception:
                log.exception("event sequencer failed; trying again at the next poll")
                await wait_for_any([stop], self._poll_interval_s)
                continue
            # The deliveries wake-up belongs to the dispatcher, which clears it: it is only
            # read here, so while it stays set this loop looks every busy interval, not faster.
            if numbered or self._signals.deliveries.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._busy_interval_s)
            else:
                await wait_for_any([self._signals.deliveries, stop], self._poll_interval_s)
