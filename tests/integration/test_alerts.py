"""Warn before disabling (issue 13 item 4, docs/alerts.md), both databases: the health an
attempt outcome records and the operational events committed with it, under a clock the test
moves. Outcomes go through the dispatcher's own Recorder; the real dispatcher and the CLI are
exercised end to end in tests/e2e/test_alerts_e2e.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dlrhub.delivery.recorder import Recorder
from dlrhub.domain.delivery_state import DeliveryState
from dlrhub.domain.status import Channel
from dlrhub.services.status_changes import record_inbound
from dlrhub.store.records import AttemptOutcome
from dlrhub.store.schema import deliveries, events, webhooks
from dlrhub.wiring.hub import Hub
from tests.support.stack import make_settings

WARN = timedelta(hours=1)
DISABLE = timedelta(hours=3)
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    hub: Hub
    clock: Clock
    recorder: Recorder
    account_id: str
    customer_hook: str  # the delivery-status webhook's row id
    alerts_hook: str
    delivery_id: str  # a delivery to the customer's webhook


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    async for built in _world(db_url, warn=WARN, disable=DISABLE):
        yield built


async def _world(db_url: str, *, warn: timedelta, disable: timedelta) -> AsyncIterator[World]:
    clock = Clock()
    settings = make_settings(
        db_url, warn_after_s=warn.total_seconds(), disable_after_s=disable.total_seconds()
    )
    hub = Hub.build(settings, clock=clock)
    try:
        account = await hub.accounts.create("alerts-test")
        customer = await hub.delivery_status.create(account.account_id, "https://a.example/dlr")
        alerts, created = await hub.alerts.put(account.account_id, "https://ops.example/alerts")
        assert created
        recorder = Recorder(hub.db, clock, hub.signals, disable_after=disable, warn_after=warn)
        yield World(
            hub,
            clock,
            recorder,
            account.account_id,
            customer.id,
            alerts.id,
            await _inbound_delivery(hub, account.account_id),
        )
    finally:
        await hub.db.dispose()


async def _inbound_delivery(hub: Hub, account_id: str) -> str:
    """An event of the account (a reply), and the id of its one delivery."""
    async with hub.db.transaction() as conn:
        event_id, queued = await record_inbound(
            conn,
            account_id=account_id,
            source="+393401234567",
            destination="+393409876543",
            channel=Channel.SMS,
            text="yes",
            occurred_at=hub.clock(),
            now=hub.clock(),
        )
    assert queued == 1
    async with hub.db.reading() as conn:
        query = select(deliveries.c.id).where(deliveries.c.event_id == event_id)
        return str((await conn.execute(query)).scalar_one())


async def _attempt(world: World, *, ok: bool, at: timedelta, webhook_id: str = "") -> None:
    """One attempt on the customer's webhook (or `webhook_id`), `at` after T0, recorded as
    the dispatcher records it."""
    world.clock.now = T0 + at
    world.recorder.add(
        AttemptOutcome(
            delivery_id=world.delivery_id,
            webhook_id=webhook_id or world.customer_hook,
            attempted_at=world.clock.now,
            duration_ms=5,
            response_status=200 if ok else 503,
            response_body="",
            error=None if ok else "HTTP 503",
            new_status=DeliveryState.SUCCEEDED if ok else DeliveryState.FAILED,
            attempts=1,
            next_attempt_at=None if ok else world.clock.now + timedelta(seconds=30),
        )
    )
    await world.recorder.flush()


async def _alerts(world: World) -> list[tuple[str, dict[str, Any]]]:
    """Every operational event stored for the account, oldest first, with the webhook its
    delivery is for."""
    async with world.hub.db.reading() as conn:
        rows = await conn.execute(
            select(deliveries.c.webhook_id, events.c.payload)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(events.c.account_id == world.account_id, events.c.event_type == "ALERT")
            .order_by(events.c.created_at)
        )
        return [(row.webhook_id, json.loads(row.payload)) for row in rows]


async def _kinds(world: World) -> list[str]:
    return [payload["eventType"] for _, payload in await _alerts(world)]


async def _warned_at(world: World, webhook_id: str) -> datetime | None:
    async with world.hub.db.reading() as conn:
        query = select(webhooks.c.warned_at).where(webhooks.c.id == webhook_id)
        value: datetime | None = (await conn.execute(query)).scalar_one()
        return value


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_failing_webhook_is_warned_once_per_streak(world: World) -> None:
    await _attempt(world, ok=False, at=timedelta(0))
    await _attempt(world, ok=False, at=timedelta(minutes=59))
    assert await _alerts(world) == []  # not yet failing for an hour

    for minutes in (61, 90, 120):
        await _attempt(world, ok=False, at=timedelta(minutes=minutes))
    [(target, payload)] = await _alerts(world)
    assert target == world.alerts_hook
    assert payload == {
        "eventType": "webhook.failing",
        "webhookId": "delivery-status",
        "url": "https://a.example/dlr",
        "failingSince": _iso(T0),
        "lastError": "HTTP 503",
        "disablesAt": _iso(T0 + DISABLE),
        "disabledAt": None,
        "timestamp": _iso(T0 + timedelta(minutes=61)),
    }
    assert list(payload)[:3] == ["eventType", "webhookId", "url"]


async def test_recovery_after_a_warning_is_reported_and_a_new_streak_warns_again(
    world: World,
) -> None:
    await _attempt(world, ok=False, at=timedelta(0))
    await _attempt(world, ok=False, at=timedelta(minutes=70))
    await _attempt(world, ok=True, at=timedelta(minutes=80))
    await _attempt(world, ok=True, at=timedelta(minutes=81))  # healthy: nothing more
    assert await _kinds(world) == ["webhook.failing", "webhook.recovered"]
    recovered = (await _alerts(world))[1][1]
    assert recovered["failingSince"] == _iso(T0)  # the streak that ended
    assert recovered["timestamp"] == _iso(T0 + timedelta(minutes=80))
    assert recovered["disabledAt"] is None
    assert recovered["lastError"] is None
    assert await _warned_at(world, world.customer_hook) is None

    # A new streak: warned again, once, an hour into it.
    for minutes in (120, 150, 181, 182):
        await _attempt(world, ok=False, at=timedelta(minutes=minutes))
    found = await _alerts(world)
    assert [p["eventType"] for _, p in found] == [
        "webhook.failing",
        "webhook.recovered",
        "webhook.failing",
    ]
    assert found[2][1]["failingSince"] == _iso(T0 + timedelta(hours=2))


async def test_a_success_without_a_warning_sends_nothing(world: World) -> None:
    await _attempt(world, ok=False, at=timedelta(0))
    await _attempt(world, ok=True, at=timedelta(minutes=30))
    assert await _alerts(world) == []


async def test_disabling_is_reported_and_recovery_after_re_enabling(world: World) -> None:
    for minutes in (0, 61, 150, 181, 200):
        await _attempt(world, ok=False, at=timedelta(minutes=minutes))
    found = await _alerts(world)
    assert [p["eventType"] for _, p in found] == ["webhook.failing", "webhook.disabled"]
    disabled = found[1][1]
    assert disabled["disabledAt"] == _iso(T0 + timedelta(minutes=181))
    assert disabled["failingSince"] == _iso(T0)
    assert disabled["lastError"] == "HTTP 503"
    assert disabled["disablesAt"] is None

    world.clock.now = T0 + timedelta(hours=5)
    await world.hub.operations.enable(world.account_id, "delivery-status")
    await _attempt(world, ok=True, at=timedelta(hours=5, minutes=1))
    assert await _kinds(world) == ["webhook.failing", "webhook.disabled", "webhook.recovered"]


async def test_disabled_before_any_warning_still_reports_the_recovery(db_url: str) -> None:
    """With the warning due later than the disabling, the disabled alert is the only one
    before the recovery."""
    async for world in _world(db_url, warn=timedelta(hours=10), disable=timedelta(hours=1)):
        await _attempt(world, ok=False, at=timedelta(0))
        await _attempt(world, ok=False, at=timedelta(hours=2))
        await world.hub.operations.enable(world.account_id, "delivery-status")
        await _attempt(world, ok=True, at=timedelta(hours=3))
        assert await _kinds(world) == ["webhook.disabled", "webhook.recovered"]


async def test_the_alerts_webhook_failing_produces_no_alert_about_itself(world: World) -> None:
    for minutes in (0, 61, 181, 200):
        at = timedelta(minutes=minutes)
        await _attempt(world, ok=False, at=at, webhook_id=world.alerts_hook)
    assert await _alerts(world) == []
    banners = await world.hub.alerts.banners(world.account_id)
    assert banners[world.alerts_hook].is_alerts
    assert banners[world.alerts_hook].disabled_at is not None  # tracked like any webhook
    await world.hub.operations.enable(world.account_id, world.alerts_hook)
    await _attempt(world, ok=True, at=timedelta(hours=4), webhook_id=world.alerts_hook)
    assert await _alerts(world) == []


async def test_without_an_alerts_url_nothing_is_stored_but_the_streak_is_marked(
    world: World,
) -> None:
    await world.hub.alerts.delete(world.account_id)
    await _attempt(world, ok=False, at=timedelta(0))
    await _attempt(world, ok=False, at=timedelta(minutes=61))
    async with world.hub.db.reading() as conn:
        stored = await conn.execute(select(events.c.id).where(events.c.event_type == "ALERT"))
        assert stored.all() == []
    assert await _warned_at(world, world.customer_hook) == T0 + timedelta(minutes=61)


async def test_message_events_never_reach_the_alerts_webhook(world: World) -> None:
    await _inbound_delivery(world.hub, world.account_id)
    async with world.hub.db.reading() as conn:
        targets = {row.webhook_id for row in await conn.execute(select(deliveries.c.webhook_id))}
    assert targets == {world.customer_hook}


async def test_the_banner_says_since_when_the_last_error_and_when_it_is_disabled(
    world: World,
) -> None:
    await _attempt(world, ok=False, at=timedelta(0))
    await _attempt(world, ok=False, at=timedelta(minutes=10))
    banner = (await world.hub.alerts.banners(world.account_id))["delivery-status"]
    assert banner.failing_since == T0
    assert banner.last_error == "HTTP 503"
    assert banner.disables_at == T0 + DISABLE
    assert banner.disabled_at is None
    assert banner.is_alerts is False
