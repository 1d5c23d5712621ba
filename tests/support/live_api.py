"""The API served on a real loopback port in this process (peers in other processes — the
carrier stand-ins — post to it), and the probes the connector tests read results with."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from sqlalchemy import func, select

from dlrhub.config import Settings
from dlrhub.store.schema import events, messages
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.waiting import wait_until

__all__ = [
    "count",
    "counted",
    "events_of",
    "reserve_port",
    "serving_api",
    "status_of",
    "wait_status",
]


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """pytest keeps its own signal handlers: uvicorn must not take Ctrl-C over."""
        yield


def reserve_port() -> tuple[socket.socket, str]:
    """A bound loopback socket and its base URL: peers can be told the URL before the API
    starts serving on the socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def serving_api(settings: Settings, hub: Hub, sock: socket.socket) -> AsyncIterator[None]:
    """The app (API, no workers) on `sock` until the block ends; the socket is closed after."""
    app = create_app(settings, run_workers=False, hub=hub)
    server = _QuietServer(uvicorn.Config(app, lifespan="on", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: server.started or serving.done(), timeout=10, what="uvicorn")
        assert not serving.done(), serving
        yield
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def status_of(hub: Hub, message_id: str) -> tuple[str, str | None]:
    async with hub.db.reading() as conn:
        row = (
            await conn.execute(
                select(messages.c.status, messages.c.error).where(messages.c.id == message_id)
            )
        ).one()
    return str(row.status), row.error


async def wait_status(hub: Hub, message_id: str, wanted: str) -> str | None:
    """Wait for the message's status; its error then."""

    async def probe() -> tuple[str, str | None] | None:
        found = await status_of(hub, message_id)
        return found if found[0] == wanted else None

    return (await wait_until(probe, timeout=15, what=f"{message_id} {wanted}"))[1]


async def events_of(hub: Hub, message_id: str | None = None) -> list[Any]:
    """Events (type, account, payload, created_at), oldest first; one message's if given."""
    statement = select(
        events.c.event_type, events.c.account_id, events.c.payload, events.c.created_at
    ).order_by(events.c.created_at)
    if message_id is not None:
        statement = statement.where(events.c.message_id == message_id)
    async with hub.db.reading() as conn:
        return list((await conn.execute(statement)).all())


async def count(hub: Hub, table: Any) -> int:
    async with hub.db.reading() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def counted(answer: dict[str, Any], part: str) -> dict[str, int]:
    """The non-zero counts of `statuses` or `replies` in what the notify URL answered."""
    return {name: n for name, n in json.loads(answer["body"])[part].items() if n}
