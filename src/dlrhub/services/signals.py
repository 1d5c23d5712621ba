"""Wake-ups between the parts of one process, and the clock every service reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Signals:
    """Set after a commit that queued work, so sleepers wake at once instead of polling.

    A wake-up is only a hint: the work itself is always in the database, so a lost or
    extra signal costs latency, never data. Across processes the PostgreSQL listener sets
    the same events.
    """

    def __init__(self) -> None:
        self.deliveries = asyncio.Event()
        self.simulation = asyncio.Event()

    def deliveries_queued(self) -> None:
        self.deliveries.set()

    def simulation_queued(self) -> None:
        self.simulation.set()
