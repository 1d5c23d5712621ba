"""Isolation (issue 3): a hanging webhook cannot starve healthy ones; the circuit breaker
opens and closes; a webhook failing for too long is disabled, visibly, and can be re-enabled.
Both databases, real HTTPS receivers, the real dispatcher in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dlrhub.domain.status import Channel
from dlrhub.runtime import Workers
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.inprocess import serving
from tests.support.receiver import Receiver, Reply
from tests.support.stack import make_settings
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

HOOK = "/api/partner-gateway/v1/webhooks/delivery-status"
DELIVERIES = "/api/partner-gateway/v1/deliveries"


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path)


async def _hub(db_url: str, tls: TestTLS, **overrides: Any) -> Hub:
    return Hub.build(make_settings(db_url, ca_bundle=tls.ca_pem_path, **overrides))


async def _account_with_webhook(hub: Hub, name: str, url: str) -> AccountKey:
    created = await hub.accounts.create(name)
    await hub.delivery_status.create(created.account_id, url)
    return AccountKey(created.account_id, created.api_key)


async def _inbound(hub: Hub, account: AccountKey, count: int) -> list[str]:
    """Store `count` inbound messages for `account`; return their event ids."""
    return [
        await hub.messaging.receive_inbound(
            account.account_id,
            source=f"+3934000{i:05d}",
            destination="+393409876543",
            channel=Channel.SMS,
            text=f"reply {i}",
        )
        for i in range(count)
    ]


def _gauge(workers: Workers, name: str) -> float:
    value = workers.metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


async def test_hanging_webhook_does_not_starve_healthy_ones_and_circuit_cycles(
    db_url: str, tls: TestTLS
) -> None:
    hub = await _hub(
        db_url,
        tls,
        delivery_timeout_s=1.0,
        max_in_flight=8,
        max_in_flight_per_webhook=2,
        circuit_threshold=3,
        circuit_cooldown_s=6.0,  # open well past the marker below, even under load
        retry_schedule="1,1,1,1,1,1,1,1",
    )
    with Receiver(tls) as hanging, Receiver(tls) as healthy:
        hanging.default_reply = Reply(200, delay_s=30)  # never answers within the timeout
        stuck = await _account_with_webhook(hub, "stuck", f"{hanging.url}/hook")
        fine = [
            await _account_with_webhook(hub, f"fine-{i}", f"{healthy.url}/hook/{i}")
            for i in range(4)
        ]
        await _inbound(hub, stuck, 20)
        for account in fine:
            await _inbound(hub, account, 25)
        workers = Workers(hub)
        workers.start()
        try:
            await healthy.await_for(100, timeout=15)
            # The stuck webhook needs ≥ 10 s for its 20 deliveries (1 s timeout, 2 at a time);
            # the healthy ones finish while most of those are still waiting, so they did not
            # queue behind them. Said in attempts, not seconds (no wall-clock bound).
            assert len(hanging.requests) <= 8, "stuck deliveries went ahead of healthy ones"
            await wait_until(
                lambda: _gauge(workers, "dlrhub_open_circuits") >= 1,
                timeout=10,
                what="the circuit to open",
            )
            attempts_while_open = len(hanging.requests)
            # Paused: a marker event queued now for a healthy webhook is claimed after the
            # stuck ones (most overdue first) unless the open circuit leaves them out.
            await _inbound(hub, fine[0], 1)
            await healthy.await_for(101, timeout=5)
            assert len(hanging.requests) == attempts_while_open
            hanging.default_reply = Reply(200)  # the endpoint recovers

            def stuck_events_arrived() -> int:
                # Attempts that timed out earlier reached the receiver too: count events.
                return len({r.header("webhook-id") for r in hanging.requests})

            # Every stuck event arrives once the circuit closes.
            await wait_until(
                lambda: stuck_events_arrived() == 20, timeout=30, what="all 20 stuck events"
            )
            await wait_until(
                lambda: _gauge(workers, "dlrhub_open_circuits") == 0,
                timeout=10,
                what="the circuit to close",
            )
        finally:
            await workers.stop()
            await hub.db.dispose()


@pytest.fixture
async def failing_setup(
    db_url: str, tls: TestTLS
) -> AsyncIterator[tuple[Hub, httpx.AsyncClient, Receiver]]:
    hub = await _hub(
        db_url,
        tls,
        disable_after_s=1.0,
        retry_schedule="0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3",
        circuit_threshold=100,
    )
    app = create_app(hub.settings, run_workers=True, hub=hub)
    with Receiver(tls) as receiver:
        receiver.default_reply = Reply(500)
        async with serving(app) as client:
            try:
                yield hub, client, receiver
            finally:
                pass
    await hub.db.dispose()


async def _deliveries(client: httpx.AsyncClient, account: AccountKey) -> list[dict[str, Any]]:
    response = await client.get(DELIVERIES, headers=account.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_webhook_failing_too_long_is_disabled_visibly_and_can_be_enabled(
    failing_setup: tuple[Hub, httpx.AsyncClient, Receiver], tls: TestTLS
) -> None:
    hub, client, receiver = failing_setup
    account = await _account_with_webhook(hub, "flaky", f"{receiver.url}/hook")
    [waiting_event] = await _inbound(hub, account, 1)

    async def view() -> dict[str, Any]:
        body: dict[str, Any] = (await client.get(HOOK, headers=account.headers)).json()
        return body

    disabled = await wait_until(
        lambda: _disabled(view), timeout=15, what="the webhook to be disabled"
    )
    assert "every attempt failed" in disabled["disabledReason"]
    failing = await hub.operations.failing_webhooks()
    assert [f.url for f in failing] == [f"{receiver.url}/hook"]
    assert failing[0].disabled_reason == disabled["disabledReason"]

    # Disabled: new events are not queued for it (the queueing is part of storing the event,
    # so this is exact at once) ...
    [waiting] = await _deliveries(client, account)
    assert (waiting["eventId"], waiting["status"]) == (waiting_event, "failed")
    await _inbound(hub, account, 1)
    assert [d["id"] for d in await _deliveries(client, account)] == [waiting["id"]]
    # ... and its waiting delivery is not attempted: once it is due, a marker event of another
    # account is delivered. Claims take the most overdue first, so a dispatcher that ignored
    # the disabled state would have attempted the waiting delivery before the marker.
    # nextAttemptAt is shown in whole seconds: the real moment is within the second after it.
    shown = datetime.fromisoformat(waiting["nextAttemptAt"].replace("Z", "+00:00"))
    due = shown + timedelta(seconds=1)
    await wait_until(lambda: datetime.now(UTC) > due, what="the waiting delivery to be due")
    before = len(receiver.requests)
    with Receiver(tls) as marker_receiver:
        marker = await _account_with_webhook(hub, "marker", f"{marker_receiver.url}/marker")
        await _inbound(hub, marker, 1)
        await wait_until(lambda: _succeeded(client, marker), what="the marker to be delivered")
    assert len(receiver.requests) == before
    [still] = await _deliveries(client, account)
    assert (still["status"], still["attempts"]) == ("failed", waiting["attempts"])

    receiver.default_reply = Reply(200)
    enabled = await client.post(
        f"{HOOK.rsplit('/', 1)[0]}/delivery-status/enable", headers=account.headers
    )
    assert enabled.status_code == 204
    assert (await view())["disabledAt"] is None
    # The delivery that was waiting resumes and succeeds: that very event, one more attempt.
    await wait_until(lambda: _succeeded(client, account), what="the waiting delivery")
    [done] = await _deliveries(client, account)
    assert (done["id"], done["attempts"]) == (waiting["id"], waiting["attempts"] + 1)
    [last] = receiver.requests[before:]
    assert last.header("webhook-id") == waiting_event
    assert await hub.operations.failing_webhooks() == []


async def _disabled(view: Any) -> dict[str, Any] | None:
    body: dict[str, Any] = await view()
    return body if body["disabledAt"] is not None else None


async def _succeeded(client: httpx.AsyncClient, account: AccountKey) -> bool:
    items = await _deliveries(client, account)
    return bool(items) and all(item["status"] == "succeeded" for item in items)


async def test_enable_unknown_webhook_is_404(api: httpx.AsyncClient, account: AccountKey) -> None:
    response = await api.post(
        "/api/partner-gateway/v1/webhooks/nope/enable", headers=account.headers
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
