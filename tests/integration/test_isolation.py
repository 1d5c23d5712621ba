"""Isolation (issue 3): a hanging webhook cannot starve healthy ones; the circuit breaker
opens and closes; a webhook failing for too long is disabled, visibly, and can be re-enabled.
Both databases, real HTTPS receivers, the real dispatcher in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
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

HOOK = "/api/partner-gateway/v1/webhooks/delivery-status"


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path)


async def _hub(db_url: str, tls: TestTLS, **overrides: Any) -> Hub:
    return Hub.build(make_settings(db_url, ca_bundle=tls.ca_pem_path, **overrides))


async def _account_with_webhook(hub: Hub, name: str, url: str) -> AccountKey:
    created = await hub.accounts.create(name)
    await hub.delivery_status.create(created.account_id, url)
    return AccountKey(created.account_id, created.api_key)


async def _inbound(hub: Hub, account: AccountKey, count: int) -> None:
    for i in range(count):
        await hub.messaging.receive_inbound(
            account.account_id,
            source=f"+3934000{i:05d}",
            destination="+393409876543",
            channel=Channel.SMS,
            text=f"reply {i}",
        )


def _gauge(workers: Workers, name: str) -> float:
    value = workers.metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


async def _until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


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
        circuit_cooldown_s=3.0,
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
            started = time.monotonic()
            await healthy.await_for(100, timeout=15)
            healthy_seconds = time.monotonic() - started
            # The stuck webhook needs ≥ 10 s for its 20 deliveries (1 s timeout, 2 at a time);
            # the healthy ones finish while most of those are still waiting, so they did not
            # queue behind them.
            assert len(hanging.requests) <= 8, "stuck deliveries went ahead of healthy ones"
            assert healthy_seconds < 8, f"healthy deliveries took {healthy_seconds:.1f} s"
            await _until(
                lambda: _gauge(workers, "dlrhub_open_circuits") >= 1, 10, "the circuit to open"
            )
            attempts_while_open = len(hanging.requests)
            await asyncio.sleep(0.5)
            assert len(hanging.requests) == attempts_while_open  # paused: nothing sent
            hanging.default_reply = Reply(200)  # the endpoint recovers

            def stuck_events_arrived() -> int:
                # Attempts that timed out earlier reached the receiver too: count events.
                return len({r.header("webhook-id") for r in hanging.requests})

            # Every stuck event arrives once the circuit closes.
            await _until(lambda: stuck_events_arrived() == 20, 30, "all 20 stuck events")
            await _until(
                lambda: _gauge(workers, "dlrhub_open_circuits") == 0, 10, "the circuit to close"
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


async def test_webhook_failing_too_long_is_disabled_visibly_and_can_be_enabled(
    failing_setup: tuple[Hub, httpx.AsyncClient, Receiver],
) -> None:
    hub, client, receiver = failing_setup
    account = await _account_with_webhook(hub, "flaky", f"{receiver.url}/hook")
    await _inbound(hub, account, 1)

    async def disabled() -> dict[str, Any]:
        body: dict[str, Any] = (await client.get(HOOK, headers=account.headers)).json()
        return body

    deadline = time.monotonic() + 15
    while (await disabled())["disabledAt"] is None:
        assert time.monotonic() < deadline, "the webhook was never disabled"
        await asyncio.sleep(0.1)
    view = await disabled()
    assert "every attempt failed" in view["disabledReason"]
    failing = await hub.operations.failing_webhooks()
    assert [f.url for f in failing] == [f"{receiver.url}/hook"]
    assert failing[0].disabled_reason == view["disabledReason"]

    # Disabled: nothing is attempted and new events are not queued for it.
    await asyncio.sleep(0.5)
    before = len(receiver.requests)
    await _inbound(hub, account, 1)
    await asyncio.sleep(1.0)
    assert len(receiver.requests) == before

    receiver.default_reply = Reply(200)
    enabled = await client.post(
        f"{HOOK.rsplit('/', 1)[0]}/delivery-status/enable", headers=account.headers
    )
    assert enabled.status_code == 204
    assert (await disabled())["disabledAt"] is None
    # The delivery that was waiting resumes and succeeds.
    await receiver.await_for(1, timeout=10, predicate=lambda r: True)
    await _until(lambda: receiver.requests[-1].body != b"", 5, "a delivery after enabling")
    assert await hub.operations.failing_webhooks() == []


async def test_enable_unknown_webhook_is_404(api: httpx.AsyncClient, account: AccountKey) -> None:
    response = await api.post(
        "/api/partner-gateway/v1/webhooks/nope/enable", headers=account.headers
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
