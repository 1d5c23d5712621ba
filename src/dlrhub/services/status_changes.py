"""Applying what carriers report: a status change, its event and its deliveries, atomically.

`apply_carrier_reports` is the one path of every status change: the simulator, the HTTP ingest
(through `carrier_report_batcher`) and every future connector hand it their reports in batches.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.formats import dlr_values, mo_values
from dlrhub.domain.payloads import delivery_payload, encode_payload, inbound_payload, read_payload
from dlrhub.domain.routing import EventRoute, WebhookFilter, wants
from dlrhub.domain.row_ids import new_id
from dlrhub.domain.status import (
    Channel,
    EventType,
    MessageStatus,
    can_transition,
    event_type_for,
)
from dlrhub.services.handover import Handover
from dlrhub.services.report_history import log_reports
from dlrhub.store import accounts as account_store
from dlrhub.store import events as event_store
from dlrhub.store import messages as message_store
from dlrhub.store import webhooks as webhook_store
from dlrhub.store.events import DeliveryLease, NewEvent, StoredDelivery
from dlrhub.store.records import DeliveryJob, MessageRecord, WebhookRecord
from dlrhub.store.webhooks import ALERTS, DELIVERY_STATUS, ORDERING_NONE


def _filter(webhook: WebhookRecord) -> WebhookFilter:
    return WebhookFilter(
        is_delivery_status=webhook.kind == DELIVERY_STATUS,
        is_alerts=webhook.kind == ALERTS,
        product=webhook.product,
        report_type=webhook.report_type,
        waba_number=webhook.waba_number,
    )


@dataclass(frozen=True)
class EventSpec:
    """An event to emit: its facts, what it says, and what richer webhooks send of it."""

    account_id: str
    message_id: str | None
    route: EventRoute
    payload: dict[str, object]
    occurred_at: datetime
    webhook_values: dict[str, str]
    event_id: str | None = None


async def emit_events(
    conn: AsyncConnection,
    specs: Sequence[EventSpec],
    now: datetime,
    handover: Handover | None = None,
) -> list[int]:
    """Store events and one delivery per webhook that wants each: the deliveries queued per
    event for any worker. A batch costs the same few statements as one event. With a
    `handover`, the deliveries its dispatcher has room for are leased to it instead (not counted
    as queued) and their jobs added to it, to be handed over after the commit."""
    if not specs:
        return []
    candidates = await webhook_store.candidate_webhooks_of(
        conn, sorted({spec.account_id for spec in specs})
    )
    sequences = await _sequences(conn, specs)
    new_events = [
        NewEvent(
            id=spec.event_id or new_id(),
            account_id=spec.account_id,
            message_id=spec.message_id,
            event_type=spec.route.event_type.value,
            channel=spec.route.channel.value,
            business_number=spec.route.business_number,
            payload=encode_payload(_with_sequence(spec.payload, sequence)).decode(),
            occurred_at=spec.occurred_at,
            webhook_ids=[
                webhook.id
                for webhook in candidates[spec.account_id]
                if wants(_filter(webhook), spec.route)
            ],
            webhook_values=spec.webhook_values,
            sequence=sequence,
        )
        for spec, sequence in zip(specs, sequences, strict=True)
    ]
    lease = _lease_for(handover, new_events)
    unordered = {
        webhook.id
        for found in candidates.values()
        for webhook in found
        if webhook.ordering == ORDERING_NONE
    }
    stored = await event_store.insert_events(
        conn, new_events, now, lease=lease, unordered_webhooks=unordered
    )
    if handover is not None and lease is not None:
        hooks = {webhook.id: webhook for found in candidates.values() for webhook in found}
        handover.jobs.extend(await _jobs_of(conn, stored, hooks, now))
    queued = Counter(delivery.event.id for delivery in stored if not delivery.leased)
    return [queued[event.id] for event in new_events]


async def _sequences(conn: AsyncConnection, specs: Sequence[EventSpec]) -> list[int | None]:
    """Each event's place among its message's events (1, 2, …; None without a message), in
    the order the batch holds them. The callers hold the messages' rows locked, so no other
    transaction numbers events of the same message meanwhile."""
    last = await event_store.last_sequences(
        conn, [spec.message_id for spec in specs if spec.message_id is not None]
    )
    numbered: list[int | None] = []
    for spec in specs:
        if spec.message_id is None:
            numbered.append(None)
            continue
        last[spec.message_id] = last.get(spec.message_id, 0) + 1
        numbered.append(last[spec.message_id])
    return numbered


def _with_sequence(payload: dict[str, object], sequence: int | None) -> dict[str, object]:
    """The payload as sent: a message's events carry their `sequence` (docs/ordering.md)."""
    return payload if sequence is None else {**payload, "sequence": sequence}


def _lease_for(handover: Handover | None, new_events: Sequence[NewEvent]) -> DeliveryLease | None:
    if handover is None:
        return None
    wanted = Counter(webhook_id for event in new_events for webhook_id in event.webhook_ids)
    counts = handover.allot(wanted)
    if not counts:
        return None
    return DeliveryLease(handover.taker.worker_id, handover.lease_until, counts)


async def _jobs_of(
    conn: AsyncConnection,
    stored: Sequence[StoredDelivery],
    hooks: Mapping[str, WebhookRecord],
    now: datetime,
) -> list[DeliveryJob]:
    """What the dispatcher needs to attempt the leased deliveries: what a claim would load."""
    leased = [delivery for delivery in stored if delivery.leased]
    secrets = await account_store.live_secrets(
        conn, sorted({d.event.account_id for d in leased}), now
    )
    return [
        DeliveryJob(
            delivery_id=delivery.id,
            attempts=0,
            account_id=delivery.event.account_id,
            event_id=delivery.event.id,
            event_type=delivery.event.event_type,
            payload=delivery.event.payload,
            webhook=hooks[delivery.webhook_id],
            webhook_values=dict(delivery.event.webhook_values),
            secrets=[secret for secret, _, _ in secrets.get(delivery.event.account_id, [])],
            message_id=delivery.event.message_id,
        )
        for delivery in leased
    ]


async def emit_event(conn: AsyncConnection, spec: EventSpec, now: datetime) -> tuple[str, int]:
    """One event: (its id, deliveries queued)."""
    event_id = spec.event_id or new_id()
    (queued,) = await emit_events(conn, [dataclasses.replace(spec, event_id=event_id)], now)
    return event_id, queued


def _moved(
    message: MessageRecord,
    new_status: MessageStatus,
    *,
    occurred_at: datetime,
    error: str | None,
    now: datetime,
) -> MessageRecord:
    """The message after a (permitted) move to `new_status`."""
    if new_status is MessageStatus.DELIVERED:
        return dataclasses.replace(
            message, status=new_status, delivered_at=occurred_at, updated_at=now
        )
    if new_status is MessageStatus.READ:
        return dataclasses.replace(message, status=new_status, read_at=occurred_at, updated_at=now)
    return dataclasses.replace(message, status=new_status, error=error, updated_at=now)


def _status_event(
    message: MessageRecord, new_status: MessageStatus, occurred_at: datetime, error: str | None
) -> EventSpec | None:
    """The event a move of `message` (as it was before) to `new_status` emits, if any."""
    event_type = event_type_for(new_status)
    if event_type is None or not message.enable_notification:
        return None
    return EventSpec(
        account_id=message.account_id,
        message_id=message.id,
        route=EventRoute(message.channel, event_type, message.phone_number_id),
        payload=_status_payload(message, new_status, event_type, occurred_at, error),
        occurred_at=occurred_at,
        webhook_values=_status_values(message, new_status, occurred_at),
    )


class CarrierReportOutcome(Enum):
    APPLIED = "applied"
    IGNORED = "ignored"  # intermediate, late or repeated: changes nothing
    UNKNOWN = "unknown"  # no such message


@dataclass(frozen=True)
class CarrierReport:
    message_id: str
    status: MessageStatus | None  # None: an intermediate report, acknowledged but not applied
    error: str | None = None


async def apply_carrier_reports(
    conn: AsyncConnection,
    reports: Sequence[CarrierReport],
    *,
    now: datetime,
    locked: Mapping[str, MessageRecord] | None = None,
    handover: Handover | None = None,
) -> tuple[list[CarrierReportOutcome], int]:
    """Apply many reports in the caller's transaction with a fixed number of statements:
    each report's outcome, and the deliveries queued in all.

    The messages are locked first, so the moves computed here from what was read are the
    moves written; `locked`: the reports' messages as the caller already locked them in
    this transaction (not read again). Reports on the same message apply in order, as they
    would one by one. `handover`: see `emit_events`.
    """
    if not reports:
        return [], 0
    current = (
        dict(locked)
        if locked is not None
        else await message_store.lock_by_ids(conn, sorted({r.message_id for r in reports}))
    )
    read = dict(current)
    outcomes: list[CarrierReportOutcome] = []
    specs: list[EventSpec] = []
    for report in reports:
        message = current.get(report.message_id)
        if message is None:
            outcomes.append(CarrierReportOutcome.UNKNOWN)
            continue
        status = report.status
        if status is None or not can_transition(message.status, status, message.channel):
            outcomes.append(CarrierReportOutcome.IGNORED)
            continue
        current[message.id] = _moved(message, status, occurred_at=now, error=report.error, now=now)
        outcomes.append(CarrierReportOutcome.APPLIED)
        spec = _status_event(message, status, now, report.error)
        if spec is not None:
            specs.append(spec)
    await message_store.save_statuses(
        conn,
        [(read[id_].status, after) for id_, after in current.items() if after is not read[id_]],
    )
    # Every report in its message's history, applied or not (one statement a batch).
    await log_reports(conn, reports, [outcome.value for outcome in outcomes], read, now)
    return outcomes, sum(await emit_events(conn, specs, now, handover))


def _status_values(
    message: MessageRecord, new_status: MessageStatus, occurred_at: datetime
) -> dict[str, str]:
    """The DLR values after the move: `message` is the row as it was before it."""
    is_read = new_status is MessageStatus.READ
    delivered_at = message.delivered_at if is_read else None
    if new_status is MessageStatus.DELIVERED:
        delivered_at = occurred_at
    return dlr_values(
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
    message_type: str = "TEXT",
) -> tuple[str, int]:
    """An inbound (MO) message becomes an INBOUND event; `destination` is the business number.

    The event id doubles as the inbound message's id (the MO `messageId`).
    """
    payload = inbound_payload(
        source=source,
        destination=destination,
        text=text,
        channel=channel,
        occurred_at=occurred_at,
        message_type=message_type,
    )
    route = EventRoute(channel, EventType.INBOUND, destination)
    event_id = new_id()
    values = mo_values(
        message_id=event_id,
        source=source,
        text=text,
        received_at=occurred_at,
        message_type=message_type,
    )
    spec = EventSpec(
        account_id=account_id,
        message_id=None,
        route=route,
        payload=payload,
        occurred_at=occurred_at,
        webhook_values=values,
        event_id=event_id,
    )
    return await emit_event(conn, spec, now)
