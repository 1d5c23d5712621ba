"""Helpers shared by the issue-2 acceptance tests (the working core: send, poll, webhook)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from dlrhub.api.app import create_app
from dlrhub.config import Settings
from dlrhub.runtime import Workers
from dlrhub.services.hub import Hub
from dlrhub.store.schema import deliveries, delivery_attempts, events, messages
from tests.conftest import AccountKey, make_settings
from tests.support.inprocess import serving
from tests.support.receiver import ReceivedRequest

T = TypeVar("T")

PROBLEM_JSON = "application/problem+json"
SEND = "/api/message-server/{channel}/send"
GW = "/api/partner-gateway/v1"
DS = GW + "/webhooks/delivery-status"
STATUS = GW + "/messages/status"
SECRET = GW + "/account/signing-secret"
INBOUND = GW + "/simulate/inbound"

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with the expected status; returns its body."""
    assert response.status_code == status, (response.status_code, response.text)
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith(PROBLEM_JSON), content_type
    body = response.json()
    assert isinstance(body, dict)
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def error_fields(problem: dict[str, Any]) -> set[str]:
    """The `field` of each entry of a validation problem's `errors` list (which must exist)."""
    errors = problem.get("errors")
    assert isinstance(errors, list), problem
    assert errors, problem
    for entry in errors:
        assert set(entry) == {"field", "message"}, entry
        assert isinstance(entry["message"], str)
        assert entry["message"]
    return {str(entry["field"]) for entry in errors}


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


async def wait_until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 15.0,  # noqa: ASYNC109 - a deadline for a polling loop, not an I/O timeout
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s (last: {last!r})")
        await asyncio.sleep(interval)


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
        query = (
            select(
                deliveries.c.id,
                deliveries.c.status,
                deliveries.c.attempts,
                deliveries.c.webhook_id,
                events.c.id.label("event_id"),
                events.c.event_type,
                events.c.message_id,
            )
            .join(events, events.c.id == deliveries.c.event_id)
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        if message_id is not None:
            query = query.where(events.c.message_id == message_id)
        async with self.hub.db.reading() as conn:
            return list((await conn.execute(query)).all())

    async def attempt_rows(self, delivery_id: str) -> list[Any]:
        async with self.hub.db.reading() as conn:
            rows = await conn.execute(
                select(delivery_attempts)
                .where(delivery_attempts.c.delivery_id == delivery_id)
                .order_by(delivery_attempts.c.id)
            )
            return list(rows.all())

    async def event_count(self, message_id: str) -> int:
        async with self.hub.db.reading() as conn:
            rows = await conn.execute(select(events.c.id).where(events.c.message_id == message_id))
            return len(rows.all())

    async def message_status(self, message_id: str) -> str:
        async with self.hub.db.reading() as conn:
            value = await conn.execute(select(messages.c.status).where(messages.c.id == message_id))
            return str(value.scalar_one())


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


# ---------------------------------------------------------------- end-to-end (subprocesses)


def server_env(database_url: str, ca_bundle: Path, **overrides: str) -> dict[str, str]:
    """The environment of a `dlrhub serve --dev` subprocess (and of CLI calls beside it)."""
    env = {
        "DLRHUB_DATABASE_URL": database_url,
        "DLRHUB_CA_BUNDLE": str(ca_bundle),
        "DLRHUB_SIMULATOR_DELAY_MS": "0",
        "DLRHUB_RETRY_SCHEDULE": "1,1,2",
        "DLRHUB_POLL_INTERVAL_S": "0.2",
        "DLRHUB_LOG_LEVEL": "info",
    }
    env.update(overrides)
    return env


def e2e_database(db_url: str, tmp_path: Path) -> str:
    """PostgreSQL: the test's (migrated, empty) database. SQLite: a brand-new file, so that
    `serve` has to create the schema itself."""
    if db_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    return db_url


def create_account_with_cli(env: dict[str, str], name: str) -> AccountKey:
    """`python -m dlrhub accounts create NAME --json`; stdout must be exactly one JSON object."""
    from tests.support.cli import run_cli

    result = run_cli("accounts", "create", name, "--json", env=env)
    assert result.returncode == 0, (result.stdout, result.stderr)
    created = json.loads(result.stdout)
    assert isinstance(created, dict)
    assert set(created) == {"accountId", "apiKey"}, created
    assert is_uuid(created["accountId"])
    assert isinstance(created["apiKey"], str)
    assert created["apiKey"]
    return AccountKey(created["accountId"], created["apiKey"])


def query(database_url: str, statement: Any) -> list[Any]:
    """Run one read-only statement against a database from a synchronous test."""
    from dlrhub.store.engine import create_engine

    async def run() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def deliveries_of_message(database_url: str, message_id: str) -> list[Any]:
    return query(
        database_url,
        select(deliveries)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(events.c.message_id == message_id)
        .order_by(deliveries.c.created_at),
    )


def attempts_of(database_url: str, delivery_id: str) -> list[Any]:
    return query(
        database_url,
        select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id == delivery_id)
        .order_by(delivery_attempts.c.id),
    )


def wait_sync(
    probe: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition"
) -> T:
    """`wait_until` for synchronous tests."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s (last: {last!r})")
        time.sleep(0.05)
