"""What operators ask: how deep is the queue, which webhooks are failing (`dlrhub status`,
`/metrics`), and putting a disabled webhook back in service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dlrhub.domain.clock import Clock
from dlrhub.domain.errors import NotFound
from dlrhub.domain.routing import DELIVERY_STATUS_ID
from dlrhub.store import deliveries as delivery_store
from dlrhub.store import health as health_store
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals


@dataclass(frozen=True)
class FailingWebhook:
    webhook_id: str
    account: str
    url: str
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None


class Operations:
    def __init__(self, db: Database, signals: Signals, clock: Clock) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock

    async def ready(self) -> bool:
        """Whether the database answers (`/readyz`)."""
        return await self._db.ping()

    async def queue_depth(self) -> dict[str, int]:
        async with self._db.reading() as conn:
            return await delivery_store.queue_depth(conn, self._clock())

    async def failing_webhooks(self) -> list[FailingWebhook]:
        async with self._db.reading() as conn:
            rows = await health_store.failing_webhooks(conn)
        return [FailingWebhook(*row) for row in rows]

    async def enable(self, account_id: str, webhook_id: str) -> None:
        """Re-enable a disabled webhook: its queued deliveries resume, its streak restarts."""
        target = None if webhook_id == DELIVERY_STATUS_ID else webhook_id
        async with self._db.transaction() as conn:
            if not await health_store.enable_webhook(conn, account_id, target, self._clock()):
                raise NotFound(f"no webhook {webhook_id!r}")
        self._signals.deliveries_queued()
