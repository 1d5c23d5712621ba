"""What every `dlrhub` command shares: running a coroutine, and a hub on the database.

Its own module so that `cli.py` (which registers `cli_keys`' commands) and `cli_keys.py`
both import it, instead of `cli_keys` importing `cli` back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import typer

from dlrhub.config import Settings
from dlrhub.domain.errors import DlrhubError
from dlrhub.domain.timestamps import format_timestamp
from dlrhub.store.migrate import pending_revisions, upgrade
from dlrhub.wiring.hub import Hub

T = TypeVar("T")


class SchemaNotCurrent(DlrhubError):
    title = "Schema not current"


def run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on uvloop when available; project errors become a message + exit 1."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is absent on Windows
        pass
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(factory())
    except DlrhubError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


async def with_hub(
    settings: Settings, work: Callable[[Hub], Awaitable[T]], *, migrate: bool = True
) -> T:
    """`work(hub)` on DLRHUB_DATABASE_URL. `migrate`: bring the schema up to date first;
    otherwise (commands that only read) refuse to run on a schema that is not current."""
    hub = Hub.build(settings)
    try:
        if migrate:
            await upgrade(hub.db.engine)
        else:
            await require_current_schema(hub)
        return await work(hub)
    finally:
        await hub.db.dispose()


async def require_current_schema(hub: Hub) -> None:
    if await pending_revisions(hub.db.engine):
        raise SchemaNotCurrent("the database schema is not current: run `dlrhub db upgrade`")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)
