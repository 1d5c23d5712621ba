"""Filling a dlrhub database for a scenario, fast: accounts through dlrhub's own services,
backlogs written straight into its tables (SQLAlchemy Core executemany on SQLite, COPY on
PostgreSQL) after `dlrhub db upgrade`."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
from common import DESTINATION, event_payload
from sqlalchemy.engine import make_url

from dlrhub.config import Settings
from dlrhub.domain.formats import dlr_values
from dlrhub.domain.payloads import delivery_payload, encode_payload, read_payload
from dlrhub.domain.row_ids import new_id, uuid7
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.store.engine import create_engine
from dlrhub.store.schema import deliveries, delivery_attempts, events, messages
from dlrhub.wiring.hub import Hub

CHUNK = 20_000
EVENT_COLUMNS = (
    "id",
    "account_id",
    "event_type",
    "channel",
    "payload",
    "occurred_at",
    "created_at",
    "report",
)
DELIVERY_COLUMNS = (
    "id",
    "account_id",
    "event_id",
    "webhook_id",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
ATTEMPT_COLUMNS = ("delivery_id", "attempted_at", "duration_ms", "response_status", "response_body")
# A chunk: per table, (table, columns, rows as tuples in the columns' order), in insert order.
Chunk = list[tuple[sa.Table, Sequence[str], list[tuple[Any, ...]]]]


@dataclass(frozen=True)
class Account:
    account_id: str
    api_key: str
    webhook_id: str


def upgrade(url: str, env: dict[str, str]) -> None:
    """`dlrhub db upgrade`, the documented way to create the schema."""
    subprocess.run(
        [sys.executable, "-m", "dlrhub", "db", "upgrade"],
        env={**env, "DLRHUB_DATABASE_URL": url},
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def create_accounts(url: str, callback_urls: Sequence[str]) -> list[Account]:
    """One account per URL, each with its delivery-status webhook pointing there."""
    hub = Hub.build(Settings(database_url=url, dev=True))
    created: list[Account] = []
    try:
        for callback_url in callback_urls:
            account = await hub.accounts.create(f"bench-{uuid.uuid4().hex[:12]}")
            webhook = await hub.delivery_status.create(account.account_id, callback_url)
            created.append(Account(account.account_id, account.api_key, webhook.id))
    finally:
        await hub.db.dispose()
    return created


def _rows(
    owners: Iterator[Account], count: int, done: bool, start: datetime
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Chunks of (events, deliveries, attempts) rows as tuples in the *_COLUMNS order.
    Due rows get increasing `next_attempt_at` in `owners` order, so the claim order
    interleaves webhooks exactly as given."""
    template = event_payload("MESSAGE_ID", "CUSTOMER_ID", start)
    status, attempts = ("succeeded", 1) if done else ("pending", 0)
    for offset in range(0, count, CHUNK):
        ev, dl, at = [], [], []
        for i in range(offset, min(count, offset + CHUNK)):
            owner = next(owners)
            at_time = start + timedelta(microseconds=i)
            # Ids as dlrhub makes them (UUIDv7 of the row's creation time).
            event_id, delivery_id, message_id = (_id_at(at_time) for _ in range(3))
            payload = template.replace("MESSAGE_ID", message_id).replace(
                "CUSTOMER_ID", f"bench-{i:09d}"
            )
            values = dlr_values(
                message_id=message_id,
                customer_message_id=f"bench-{i:09d}",
                destination="+393401234567",
                status=MessageStatus.DELIVERED,
                sent_at=at_time,
                delivered_at=at_time,
                read_at=None,
            )
            ev.append(
                (event_id, owner.account_id, "DELIVERY", "SMS", payload, at_time, at_time, values)
            )
            due = None if done else at_time
            account, webhook = owner.account_id, owner.webhook_id
            dl.append(
                (delivery_id, account, event_id, webhook, status, attempts, due, at_time, at_time)
            )
            if done:
                at.append((delivery_id, at_time, 3, 200, ""))
        yield ev, dl, at


MESSAGE_COLUMNS = (
    "id",
    "account_id",
    "customer_message_id",
    "channel",
    "destination",
    "sender",
    "body",
    "request_hash",
    "simulation",
    "enable_notification",
    "total_parts",
    "status",
    "sent_at",
    "delivered_at",
    "read_at",
    "updated_at",
)
ORDERED = ("message_id", "sequence")  # what the app copies from a message onto its rows
BUSINESS_NUMBER = "+390212345678"


def _read_after_delivery_rows(
    owners: Iterator[Account], count: int, start: datetime
) -> Iterator[Chunk]:
    """`count // 2` WhatsApp messages that were delivered, then read, each with its two
    events (DELIVERY sequence 1, READ sequence 2) and one pending delivery per event, as
    dlrhub writes them (store/events.py): message id and sequence on the event, its payload
    and its deliveries. Due in the order DELIVERY 1, READ 1, DELIVERY 2, READ 2, ...: every
    READ right behind its DELIVERY, the order in which per-message order holds back most."""
    for offset in range(0, count // 2, CHUNK // 2):
        msgs, ev, dl = [], [], []
        for i in range(offset, min(count // 2, offset + CHUNK // 2)):
            owner = next(owners)
            delivered_at = start + timedelta(microseconds=2 * i)
            read_at = delivered_at + timedelta(microseconds=1)
            message_id = _id_at(delivered_at)
            msgs.append(
                (
                    *(message_id, owner.account_id, f"bench-{i:09d}", "WHATSAPP", DESTINATION),
                    *(BUSINESS_NUMBER, "bench", "0" * 64, False, True, 1, "READ"),
                    *(delivered_at, delivered_at, read_at, read_at),
                )
            )
            for event, delivery in _two_events(owner, message_id, i, delivered_at, read_at):
                ev.append(event)
                dl.append(delivery)
        yield [
            (messages, MESSAGE_COLUMNS, msgs),
            (events, (*EVENT_COLUMNS, *ORDERED, "business_number"), ev),
            (deliveries, (*DELIVERY_COLUMNS, *ORDERED), dl),
        ]


def _two_events(
    owner: Account, message_id: str, i: int, delivered_at: datetime, read_at: datetime
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """The message's DELIVERY and READ: (event row, delivery row) each, payloads and values
    built by dlrhub's own functions, the payload with its `sequence` as emit_events adds it."""
    common: dict[str, Any] = {
        "message_id": message_id,
        "customer_message_id": f"bench-{i:09d}",
        "destination": DESTINATION,
    }
    delivery = delivery_payload(
        **common,
        status=MessageStatus.DELIVERED,
        channel=Channel.WHATSAPP,
        occurred_at=delivered_at,
        error=None,
    )
    read = read_payload(**common, channel=Channel.WHATSAPP, occurred_at=read_at)
    steps = (("DELIVERY", delivery, delivered_at), ("READ", read, read_at))
    for sequence, (kind, payload, at_time) in enumerate(steps, start=1):
        values = dlr_values(
            **common,
            status=MessageStatus.DELIVERED if sequence == 1 else MessageStatus.READ,
            sent_at=delivered_at,
            delivered_at=delivered_at,
            read_at=read_at if sequence == 2 else None,
        )
        body = encode_payload({**payload, "sequence": sequence}).decode()
        event_id, delivery_id, account = _id_at(at_time), _id_at(at_time), owner.account_id
        event = (event_id, account, kind, "WHATSAPP", body, at_time, at_time, values)
        queued = (delivery_id, account, event_id, owner.webhook_id, "pending", 0, at_time)
        yield (
            (*event, message_id, sequence, BUSINESS_NUMBER),
            (*queued, at_time, at_time, message_id, sequence),
        )


def _id_at(moment: datetime) -> str:
    return str(uuid7(int(moment.timestamp() * 1000), os.urandom(10)))


def _as_chunks(rows: Iterator[Any]) -> Iterator[Chunk]:
    for ev, dl, at in rows:
        yield [
            (events, EVENT_COLUMNS, ev),
            (deliveries, DELIVERY_COLUMNS, dl),
            (delivery_attempts, ATTEMPT_COLUMNS, at),
        ]


def _insert_sqlite(url: str, chunks: Iterator[Chunk]) -> None:
    path = make_url(url).database
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        for chunk in chunks:
            with engine.begin() as conn:
                for table, columns, rows in chunk:
                    if rows:
                        conn.execute(
                            table.insert(), [dict(zip(columns, r, strict=True)) for r in rows]
                        )
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()


async def _insert_postgres(url: str, chunks: Iterator[Chunk]) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        for chunk in chunks:
            async with conn.transaction():
                for table, columns, rows in chunk:
                    if not rows:
                        continue
                    # asyncpg's COPY takes a json column as its text.
                    as_text = [isinstance(table.c[c].type, sa.JSON) for c in columns]
                    records = [
                        tuple(json.dumps(v) if j else v for v, j in zip(r, as_text, strict=True))
                        for r in rows
                    ]
                    await conn.copy_records_to_table(
                        table.name, records=records, columns=list(columns)
                    )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def insert_deliveries(
    url: str,
    owners: Sequence[Account],
    count: int,
    *,
    done: bool = False,
    read_after_delivery: bool = False,
) -> None:
    """`count` events with one delivery each, owned round-robin by `owners`. Due ones
    (`done=False`) are pending and due now; done ones succeeded a day ago, with their
    attempt logged. `read_after_delivery`: the events are those of `count // 2` messages,
    each a DELIVERY (sequence 1) and its READ (sequence 2), all due (the ordering scenario)."""
    if count <= 0:
        return
    start = datetime.now(UTC) - (timedelta(days=1) if done else timedelta(seconds=count / 1e6))
    if read_after_delivery:
        chunks = _read_after_delivery_rows(itertools.cycle(owners), count, start)
    else:
        chunks = _as_chunks(_rows(itertools.cycle(owners), count, done, start))
    if url.startswith("sqlite"):
        await asyncio.to_thread(_insert_sqlite, url, chunks)
    else:
        await _insert_postgres(url, chunks)


async def clone_messages(url: str, message_id: str, n: int) -> list[str]:
    """`n` copies of a message sent through the API (new ids, nothing left for the
    simulator to do): many reportable messages without `n` calls to the send API."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            row = (await conn.execute(sa.select(messages).where(messages.c.id == message_id))).one()
            ids = [new_id() for _ in range(n)]
            base = {**row._asdict(), "sim_next": None, "sim_due_at": None}
            rows = [{**base, "id": id_, "customer_message_id": f"bench-{id_}"} for id_ in ids]
            for offset in range(0, n, CHUNK):
                await conn.execute(messages.insert(), rows[offset : offset + CHUNK])
    finally:
        await engine.dispose()
    return ids


def dlrhub_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any DLRHUB_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLRHUB_")}
    env.update(extra)
    return env
