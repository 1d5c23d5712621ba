"""The whole service in this process: settings for tests, the app over httpx on its own Hub,
and the background workers when a test wants them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from dlrhub.config import Settings
from dlrhub.runtime import Workers
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub

from . import probes
from .api_client import DS, SECRET, SEND, STATUS, AccountKey
from .inprocess import serving
from .receiver import ReceivedRequest

__all__ = ["Stack", "by_event", "make_settings", "running_workers", "stack"]


def make_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings for tests: dev mode, no simulator delay, a short retry schedule."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "dev": True,
        "simulator_delay_ms": 0,
        "retry_schedule": "1,1,2",
        "poll_interval_s": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_workers(hub: Hub) -> AsyncIterator[Workers]:
    """The dispatcher and the simulator, in this process, for the duration of the block."""
    workers = Workers(hub)
    workers.start()
    try:
        yield workers
    finally:
        await workers.stop()


@dataclass
class Stack:
    """The app in-process (httpx over ASGI) on its own Hub, optionally with the workers."""

    settings: Settings
    hub: Hub
    api: httpx.AsyncClient
    workers: Workers | None = None
    _accounts: list[AccountKey] = field(default_factory=list)

    async def new_account(self) -> AccountKey:
        created = await self.hub.accounts.create(f"acct-{uuid.uuid4().hex[:10]}")
        key = AccountKey(created.account_id, created.api_key)
        self._accounts.append(key)
        return key

    def start_workers(self) -> None:
        assert self.workers is None, "workers already running"
        self.workers = Workers(self.hub)
        self.workers.start()

    async def stop_workers(self) -> None:
        if self.workers is not None:
            await self.workers.stop()
            self.workers = None

    async def register(self, key: AccountKey, url: str) -> None:
        response = await self.api.post(DS, json={"callbackUrl": url}, headers=key.headers)
        assert response.status_code == 201, response.text

    async def send(
        self,
        key: AccountKey,
        *,
        channel: str = "sms",
        destination: str = "+393401234567",
        body: str = "hello",
        expect: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "destination": destination,
            "body": body,
            "simulation": True,
            **extra,
        }
        response = await self.api.post(
            SEND.format(channel=channel), json=payload, headers=key.headers
        )
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    async def poll(self, key: AccountKey, customer_message_id: str) -> dict[str, Any]:
        response = await self.api.get(f"{STATUS}/{customer_message_id}", headers=key.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def secret(self, key: AccountKey) -> str:
        response = await self.api.get(SECRET, headers=key.headers)
        assert response.status_code == 200, response.text
        return str(response.json()["secret"])

    async def delivery_rows(self, message_id: str | None = None) -> list[Any]:
        """Deliveries (joined with their event), oldest first; only one message's if given."""
        return await probes.delivery_rows(self.hub.db, message_id)

    async def attempt_rows(self, delivery_id: str) -> list[Any]:
        return await probes.attempt_rows(self.hub.db, delivery_id)

    async def event_count(self, message_id: str) -> int:
        return await probes.event_count(self.hub.db, message_id)

    async def message_status(self, message_id: str) -> str:
        return await probes.message_status(self.hub.db, message_id)


@asynccontextmanager
async def stack(db_url: str, *, workers: bool = False, **overrides: Any) -> AsyncIterator[Stack]:
    """A Stack on `db_url` with `make_settings` defaults plus `overrides`."""
    settings = make_settings(db_url, **overrides)
    hub = Hub.build(settings)
    app = create_app(settings, run_workers=False, hub=hub)
    built: Stack | None = None
    try:
        async with serving(app) as client:
            built = Stack(settings=settings, hub=hub, api=client)
            if workers:
                built.start_workers()
            try:
                yield built
            finally:
                await built.stop_workers()
    finally:
        await hub.db.dispose()


def by_event(requests: list[ReceivedRequest]) -> dict[str, list[ReceivedRequest]]:
    """Received webhook requests grouped by their `webhook-id` header, in arrival order."""
    grouped: dict[str, list[ReceivedRequest]] = {}
    for request in requests:
        event_id = request.header("webhook-id")
        assert event_id, request.describe()
        grouped.setdefault(event_id, []).append(request)
    return grouped
