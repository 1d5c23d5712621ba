"""A hub on a clock the test moves, its API in-process, and the background parts the receipt
timeout and simulation tests drive by hand (the simulator, the sweeper, a carrier that
accepts real SMS)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from dlrhub.carriers.simulator import Simulator
from dlrhub.domain.status import Channel
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.metrics import Metrics
from dlrhub.services.receipt_timeouts import ReceiptTimeouts
from dlrhub.services.submissions import AcceptedPart, SubmitOutcome
from dlrhub.store.schema import events, messages
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub

from .api_client import SEND, STATUS, AccountKey
from .inprocess import serving
from .stack import make_settings

BIND = "smpp://a:b@127.0.0.1:1"


class Clock:
    """Whole seconds: both databases store them exactly."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class TimeoutStack:
    hub: Hub
    api: httpx.AsyncClient
    clock: Clock
    key: AccountKey

    async def send(self, channel: str = "sms", **fields: Any) -> httpx.Response:
        body = {"destination": "+393401234567", "body": "hello", **fields}
        return await self.api.post(
            SEND.format(channel=channel), json=body, headers=self.key.headers
        )

    async def sent(self, channel: str = "sms", **fields: Any) -> str:
        """Sends; returns the customerMessageId."""
        response = await self.send(channel, **fields)
        assert response.status_code == 201, response.text
        customer_id: str = response.json()["customerMessageId"]
        return customer_id

    async def accept(self, carrier_id: str) -> None:
        """The carrier accepts the one due real SMS, as `carrier_id`."""
        (claimed,) = await self.hub.submissions.claim(
            Channel.SMS, worker="w", limit=10, lease=timedelta(seconds=30)
        )
        await self.hub.submissions.record(
            SubmitOutcome(
                claimed,
                SubmitAnswer.ACCEPTED,
                "ok",
                (AcceptedPart(0, carrier_id, carrier_id.lower()),),
            )
        )

    async def simulate(self) -> int:
        """Take every due simulator step; how many."""
        simulator = Simulator(
            db=self.hub.db,
            signals=self.hub.signals,
            clock=self.clock,
            delay=timedelta(0),
            poll_interval_s=0.1,
        )
        total = 0
        while stepped := await simulator.step():
            total += stepped
        return total

    async def sweep(self) -> int:
        return await ReceiptTimeouts.of(self.hub).sweep()

    async def status(self, customer_id: str) -> dict[str, Any]:
        response = await self.api.get(f"{STATUS}/{customer_id}", headers=self.key.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def reports(self, customer_id: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"{STATUS}/{customer_id}/reports", headers=self.key.headers)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["reports"]
        return found

    async def events(self, customer_id: str) -> list[tuple[str, Any]]:
        """(event type, statusCode or None) of the message's events, oldest first."""
        async with self.hub.db.reading() as conn:
            message_id = (
                await conn.execute(
                    select(messages.c.id).where(messages.c.customer_message_id == customer_id)
                )
            ).scalar_one()
            rows = await conn.execute(
                select(events.c.event_type, events.c.payload)
                .where(events.c.message_id == message_id)
                .order_by(events.c.created_at, events.c.event_type)
            )
            return [(row.event_type, _status_code(row.payload)) for row in rows]

    async def deadline(self, customer_id: str) -> datetime | None:
        async with self.hub.db.reading() as conn:
            value: datetime | None = (
                await conn.execute(
                    select(messages.c.receipt_due_at).where(
                        messages.c.customer_message_id == customer_id
                    )
                )
            ).scalar_one()
            return value


def _status_code(payload: str) -> Any:
    return json.loads(payload).get("statusCode")


def late_count() -> float:
    value = Metrics().registry.get_sample_value("dlrhub_carrier_reports_total", {"outcome": "late"})
    return value or 0.0


@asynccontextmanager
async def timeout_stack(db_url: str, **overrides: Any) -> AsyncIterator[TimeoutStack]:
    clock = Clock()
    settings = make_settings(db_url, smpp_binds=BIND, **overrides)
    hub = Hub.build(settings, clock=clock)
    try:
        created = await hub.accounts.create("timeouts")
        async with serving(create_app(settings, run_workers=False, hub=hub)) as api:
            yield TimeoutStack(hub, api, clock, AccountKey(created.account_id, created.api_key))
    finally:
        await hub.db.dispose()
