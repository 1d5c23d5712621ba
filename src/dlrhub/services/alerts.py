"""Warn before disabling (docs/alerts.md): the account's alerts webhook, the operational events
it receives, and the banners the dashboard shows on a failing webhook.

The alerts webhook is a webhook of kind `alerts`, so the dispatcher sends, retries, signs and
logs its deliveries like any other. Its events are stored in the transaction that records the
health change they report, so an alert is sent exactly when the change is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.alerts import (
    STORED_CHANNEL,
    STORED_EVENT_TYPE,
    AlertType,
    alert_payload,
    disables_at,
)
from dlrhub.domain.clock import Clock
from dlrhub.domain.errors import NotFound
from dlrhub.domain.payloads import encode_payload
from dlrhub.domain.routing import WebhookFilter, public_webhook_id, wants_alerts
from dlrhub.domain.row_ids import new_id
from dlrhub.domain.urlpolicy import UrlPolicy, check_callback_url
from dlrhub.store import deliveries as delivery_store
from dlrhub.store import events as event_store
from dlrhub.store import webhooks as store
from dlrhub.store.database import Database
from dlrhub.store.deliveries import HealthChange
from dlrhub.store.errors import Duplicate
from dlrhub.store.events import NewEvent
from dlrhub.store.records import AttemptOutcome, WebhookRecord

NO_ALERTS_URL = "no alerts URL is configured for this account"


@dataclass(frozen=True)
class Alert:
    """One operational event to send to an account's alerts webhook."""

    account_id: str
    payload: dict[str, object]
    occurred_at: datetime


@dataclass(frozen=True)
class Banner:
    """What the dashboard says on a failing or disabled webhook."""

    webhook_id: str  # the public id: "delivery-status" or the row id
    is_alerts: bool  # the alerts URL itself (no alert is ever sent about it)
    url: str
    failing_since: datetime | None
    last_error: str | None
    disables_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True)
class HealthRecorded:
    disabled: list[str]  # the webhooks just disabled
    alerts_queued: int


async def record_webhook_health(
    conn: AsyncConnection,
    latest: dict[str, AttemptOutcome],
    now: datetime,
    *,
    disable_after: timedelta,
    warn_after: timedelta,
) -> HealthRecorded:
    """Record what the latest outcome per webhook did to its health and, in the same
    transaction, queue the alerts it calls for."""
    changes = await delivery_store.update_webhook_health(
        conn, latest, now, disable_after, warn_after
    )
    alerts = [
        _alert(change, kind, now, disable_after)
        for kind, found in (
            (AlertType.FAILING, changes.failing),
            (AlertType.DISABLED, changes.disabled),
            (AlertType.RECOVERED, changes.recovered),
        )
        for change in found
        # The alerts webhook is never the subject of an alert: it would report on itself
        # through itself, and a failing alerts URL would feed its own queue.
        if change.kind != store.ALERTS
    ]
    queued = await emit_alerts(conn, alerts, now)
    return HealthRecorded([change.webhook_id for change in changes.disabled], queued)


def _alert(change: HealthChange, kind: AlertType, now: datetime, disable_after: timedelta) -> Alert:
    recovered = kind is AlertType.RECOVERED
    payload = alert_payload(
        alert=kind,
        webhook_id=public_webhook_id(
            change.webhook_id, is_delivery_status=change.kind == store.DELIVERY_STATUS
        ),
        url=change.url,
        failing_since=change.failing_since,
        last_error=None if recovered else change.last_error,
        disables_at=None
        if recovered
        else disables_at(change.failing_since, change.disabled_at, disable_after),
        disabled_at=change.disabled_at,
        occurred_at=now,
    )
    return Alert(change.account_id, payload, now)


async def emit_alerts(conn: AsyncConnection, alerts: Sequence[Alert], now: datetime) -> int:
    """Store each alert as an event with one delivery, to its account's alerts webhook (the
    only webhook routing gives operational events to); an account without an enabled alerts
    webhook gets nothing stored. Returns the deliveries queued."""
    if not alerts:
        return 0
    targets = {
        hook.account_id: hook
        for hook in await store.enabled_alerts_webhooks(
            conn, sorted({alert.account_id for alert in alerts})
        )
        if wants_alerts(_filter(hook))
    }
    new_events = [
        NewEvent(
            id=new_id(),
            account_id=alert.account_id,
            message_id=None,
            event_type=STORED_EVENT_TYPE,
            channel=STORED_CHANNEL,
            business_number=None,
            payload=encode_payload(alert.payload).decode(),
            occurred_at=alert.occurred_at,
            webhook_ids=[targets[alert.account_id].id],
            webhook_values={},
        )
        for alert in alerts
        if alert.account_id in targets
    ]
    return len(await event_store.insert_events(conn, new_events, now))


def _filter(webhook: WebhookRecord) -> WebhookFilter:
    return WebhookFilter(
        is_delivery_status=webhook.kind == store.DELIVERY_STATUS,
        is_alerts=webhook.kind == store.ALERTS,
    )


class AlertsService:
    """The alerts URL of `PUT/GET/DELETE /api/partner-gateway/v1/account/alerts`."""

    def __init__(
        self, db: Database, clock: Clock, policy: UrlPolicy, *, disable_after: timedelta
    ) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy
        self._disable_after = disable_after

    async def get(self, account_id: str) -> WebhookRecord:
        async with self._db.reading() as conn:
            webhook = await store.alerts_webhook(conn, account_id)
        if webhook is None:
            raise NotFound(NO_ALERTS_URL)
        return webhook

    async def put(self, account_id: str, url: str) -> tuple[WebhookRecord, bool]:
        """Set the alerts URL: (the webhook, whether it was created). Setting it again
        enables it if it had been disabled for failing, like saving any webhook."""
        check_callback_url(url, self._policy, field="url")
        try:
            created = await self._put(account_id, url)
        except Duplicate:
            # Two first PUTs at once: the unique index let the other one create it.
            created = await self._put(account_id, url)
        return await self.get(account_id), created

    async def _put(self, account_id: str, url: str) -> bool:
        now = self._clock()
        async with self._db.transaction() as conn:
            existing = await store.alerts_webhook(conn, account_id)
            if existing is not None:
                await store.update_webhook(
                    conn,
                    existing.id,
                    {
                        "url": url,
                        "updated_at": now,
                        "disabled_at": None,
                        "disabled_reason": None,
                        "failing_since": None,
                    },
                )
                return False
            await store.insert_webhook(
                conn,
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "kind": store.ALERTS,
                    "url": url,
                    "method": "JSON",
                    "parameters": {},
                    "custom_params": {},
                    "custom_headers": {},
                    "created_at": now,
                    "updated_at": now,
                },
            )
            return True

    async def delete(self, account_id: str) -> None:
        async with self._db.transaction() as conn:
            webhook = await store.alerts_webhook(conn, account_id)
            if webhook is None:
                raise NotFound(NO_ALERTS_URL)
            await store.delete_webhook(conn, webhook.id, self._clock())

    async def banners(self, account_id: str) -> dict[str, Banner]:
        """The account's failing or disabled webhooks by public id, as the dashboard shows
        them: since when, the last error, and when (or that) it is disabled."""
        async with self._db.reading() as conn:
            troubled = await store.troubled_webhooks(conn, account_id)
        found = [
            Banner(
                webhook_id=public_webhook_id(
                    hook.id, is_delivery_status=hook.kind == store.DELIVERY_STATUS
                ),
                is_alerts=hook.kind == store.ALERTS,
                url=hook.url,
                failing_since=hook.failing_since,
                last_error=hook.last_error,
                disables_at=disables_at(hook.failing_since, hook.disabled_at, self._disable_after),
                disabled_at=hook.disabled_at,
                disabled_reason=hook.disabled_reason,
            )
            for hook in troubled
        ]
        return {banner.webhook_id: banner for banner in found}
