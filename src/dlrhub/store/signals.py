"""Wake-ups: work was queued in the database, so sleepers wake at once instead of polling.

In one process an `asyncio.Event` per queue; across processes PostgreSQL's NOTIFY, sent by
the store in the transaction that queued the work, and `Database.listen`, which sets these
same events (on SQLite, one process per database file, it has nothing to listen to).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from dlrhub.domain.status import Channel


class Signals:
    """Set after a commit that queued work.

    A wake-up is only a hint: the work itself is always in the database, so a lost or
    extra signal costs latency, never data.
    """

    def __init__(self) -> None:
        self.deliveries = asyncio.Event()
        self.simulation = asyncio.Event()
        # One per channel: each connector sleeps on its own (SPEC §11).
        self.submissions = {channel: asyncio.Event() for channel in Channel}

    def deliveries_queued(self) -> None:
        self.deliveries.set()

    def simulation_queued(self) -> None:
        self.simulation.set()

    def submissions_queued(self, channels: Iterable[Channel] | None = None) -> None:
        """Wake the connectors of `channels` (all of them: another process queued some)."""
        for channel in Channel if channels is None else channels:
            self.submissions[channel].set()


async def wait_for_any(events: list[asyncio.Event], seconds: float) -> None:
    """Sleep until one of `events` is set or `seconds` pass, whichever comes first:
    how every background loop idles between wake-ups and its fallback poll."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
