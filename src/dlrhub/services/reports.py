"""Applying what carriers report: a status change, its event and its deliveries, atomically."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.formats import dlr_report, mo_report
from dlrhub.domain.payloads import delivery_payload, encode_payload, inbound_payload, read_payload
from dlrhub.domain.routing import EventRoute, WebhookFilter, wants
from dlrhub.domain.status import (
    Channel,
    EventType,
    MessageStatus,
    can_transition,
    event_type_for,
)
from dlrhub.store import events as event_store
from dlrhub.store import messages as message_store
from dlrhub.store import webhooks as webhook_store
from dlrhub.store.records import MessageRecord, WebhookRecord
from dlrhub.store.webhooks import DELIVERY_STATUS


def _filter(webhook: WebhookRecord) -> WebhookFilter:
    return WebhookFilter(
        is_delivery_status=webhook.kind == DELIVERY_STATUS,
        product=webhook.product,
        report_type=webhook.report_type,
        waba_number=webhook.waba_number,
    )


async def emit_event(
    conn: AsyncConnection,
    *,
    account_id: str,
    message_id: str | None,
    route: EventRoute,
    payload: dict[str, object],
    occurred_at: datetime,
    now: datetime,
    report: dict[str, str] | None = None,
    event_id: str | None = None,
) -> tuple[str, int]:
    """Store an event and one delivery per webhook that wants it: (event id, deliveries).

    `report` is what richer webhooks send (domain/formats.py), stored with the event.
    """
    candidates = await webhook_store.candidate_webhooks(conn, account_id, route.channel.value)
    targets = [webhook.id for webhook in candidates if wants(_filter(webhook), route)]
    event_id = event_id or str(uuid.uuid4())
    await event_store.insert_event_with_deliveries(
        conn,
        event_id=event_id,
        account_id=account_id,
        message_id=message_id,
        event_type=route.event_type.value,
        channel=route.channel.value,
        business_number=route.business_number,
        payload=encode_payload(payload).decode(),
        occurred_at=occurred_at,
        webhook_ids=targets,
        now=now,
        report=report,
    )
    return event_id, len(targets)


async def apply_status(
    conn: AsyncConnection,
    message: MessageRecord,
    new_status: MessageStatus,
    *,
    occurred_at: datetime,
    error: str | None,
    now: datetime,
) -> int | None:
    """Move a message to `new_status` inside the caller's transaction.

    Returns None when the transition is not allowed (a late or repeated report: a no-op),
    otherwise the number of deliveries queued.
    """
    if not can_transition(message.status, new_status, message.channel):
        return None
    values: dict[str, Any] = {"status": new_status.value, "updated_at": now}
    if new_status is MessageStatus.DELIVERED:
        values["delivered_at"] = occurred_at
    elif new_status is MessageStatus.READ:
        values["read_at"] = occurred_at
    else:
        values["error"] = error
    if not await message_store.move_status(conn, message.id, message.status.value, values):
        return None  # another report won the race; it emitted the event
    event_type = event_type_for(new_status)
    if event_type is None or not message.enable_notification:
        return 0
    payload = _status_payload(message, new_status, event_type, occurred_at, error)
    route = EventRoute(message.channel, event_type, message.phone_number_id)
    _, queued = await emit_event(
        conn,
        account_id=message.account_id,
        message_id=message.id,
        route=route,
        payload=payload,
        occurred_at=occurred_at,
        now=now,
        report=_status_report(message, new_status, occurred_at),
    )
    return queued


def _status_report(
    message: MessageRecord, new_status: MessageStatus, occurred_at: datetime
) -> dict[str, str]:
    """The DLR values after the move: `message` is the row as it was before it."""
    is_read = new_status is MessageStatus.READ
    delivered_at = message.delivered_at if is_read else None
    if new_status is MessageStatus.DELIVERED:
        delivered_at = occurred_at
    return dlr_report(
        message_id=message.id,
        customer_message_id=message.customer_message_id,
        destination=message.destination,
        status=new_status,
        sent_at=message.sent_at,
        delivered_at=delivered_at,
        read_at=occurred_at if is_read else None,
    )


def _status_payload(
    message: MessageRecord,
    new_status: MessageStatus,
    event_type: EventType,
    occurred_at: datetime,
    error: str | None,
) -> dict[str, object]:
    if event_type is EventType.READ:
        return read_payload(
            message_id=message.id,
            customer_message_id=message.customer_message_id,
            destination=message.destination,
            channel=message.channel,
            occurred_at=occurred_at,
        )
    return delivery_payload(
        message_id=message.id,
        customer_message_id=message.customer_message_id,
        destination=message.destination,
        status=new_status,
        channel=message.channel,
        occurred_at=occurred_at,
        error=error,
    )


async def record_inbound(
    conn: AsyncConnection,
    *,
    account_id: str,
    source: str,
    destination: str,
    channel: Channel,
    text: str,
    occurred_at: datetime,
    now: datetime,
) -> tuple[str, int]:
    """An inbound (MO) message becomes an INBOUND event; `destination` is the business number.

    The event id doubles as the inbound message's id (the MO `messageId`).
    """
    payload = inbound_payload(
        source=source, destination=destination, text=text, channel=channel, occurred_at=occurred_at
    )
    route = EventRoute(channel, EventType.INBOUND, destination)
    event_id = str(uuid.uuid4())
    report = mo_report(message_id=event_id, source=source, text=text, received_at=occurred_at)
    return await emit_event(
        conn,
        account_id=account_id,
        message_id=None,
        route=route,
        payload=payload,
        occurred_at=occurred_at,
        now=now,
        report=report,
        event_id=event_id,
    )
