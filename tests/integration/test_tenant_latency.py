"""Two tenants, one hammering "test webhook" at a server that accepts and never answers: the
other's deliveries keep their latency (issue 8 finding 2, SPEC §14). Both databases, real
HTTPS receivers, the API and the dispatcher in one process as `serve` runs them.

The per-account test limits are raised here so that tenant A keeps the whole test pool full
of hanging requests: what keeps B's deliveries on time must be the separate pool, not A being
refused. Before the fix, tests shared the dispatcher's pool (`max_in_flight` connections):
A's hanging tests took every connection, B's attempts waited for one, and that wait counted
toward their own timeout. Measured on the old code: B's p99 went from 73 ms to 12.3 s.

B's endpoint closes every connection after its response (`Connection: close`, as many do):
aiohttp hands out an idle keep-alive connection even when its pool is full, so an endpoint
that keeps connections alive hid the starvation; one that does not shows it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from dlrhub.domain.status import Channel
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey
from tests.support.inprocess import serving
from tests.support.receiver import Receiver, Reply
from tests.support.richer_webhooks import create_webhook, webhook_body
from tests.support.stack import make_settings
from tests.support.tls import make_tls

POOL = 8  # the dispatcher's max_in_flight, and the test pool's size
HAMMERS = POOL + 4  # tenant A's concurrent callers: more than either pool holds
ROUNDS = 6  # undisturbed and disturbed blocks alternate, so drifting machine load hits both
EVENTS = 25  # B's deliveries per block: 150 per phase in all
INTERVAL_S = 0.04  # B's pace: 25 events a second, well below what saturates the process
# Allowed: 20 % over the undisturbed p99, plus 20 ms. The disturbed phase also runs A's
# hammer in this same process and event loop (API calls, TLS handshakes of the hanging
# tests, two receiver threads, on 2 CPU cores): scheduling jitter of a few milliseconds that
# no pool can remove, against an undisturbed p99 of ~15-60 ms, where 20 % alone is 3-12 ms.
# Pool starvation, which this test is about, costs seconds (see above).
FLOOR_S = 0.020
# p99 of 150 samples is their second largest: one stall of this shared 2-core machine (other
# processes' bursts) in one phase decides it. A measurement that misses the bound is taken
# again when it misses narrowly (see near_miss), at most TRIALS times in all; starvation
# misses it by orders of magnitude.
TRIALS = 3


def within_bound(before: float, during: float) -> bool:
    return during <= 1.2 * before + FLOOR_S


def near_miss(before: float, during: float) -> bool:
    """Over the bound, but by less than the bound itself: what one stall can do, worth
    measuring again. Starvation is over it by seconds: no second measurement."""
    bound = 1.2 * before + FLOOR_S
    return bound < during <= 2 * bound


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


async def hammer(client: httpx.AsyncClient, url: str, key: str, stop: asyncio.Event) -> None:
    """Fire tests back to back until `stop`; a refused one (429) again after a pause:
    flooding refused calls costs the API process CPU like any request flood, a concern for a
    rate limit in front of the API, not for the delivery pools."""
    while not stop.is_set():
        response = await client.post(url, headers={"X-Api-Key": key})
        if response.status_code != 200:
            await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def hammering(
    client: httpx.AsyncClient, url: str, key: str, hanging: Receiver
) -> AsyncIterator[None]:
    """Tenant A's callers, from the moment a full pool of its tests hangs until the block
    ends (cancelled then: their connections close, the next block starts undisturbed).
    `stop` as well as the cancel: on Python 3.11 a cancel that lands as an aiohttp timeout
    expires can come back as that timeout (asyncio.timeout), and the call as a result."""
    before = len(hanging.requests)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(hammer(client, url, key, stop)) for _ in range(HAMMERS)]
    try:
        await hanging.await_for(before + POOL, timeout=10)
        yield
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def latencies(hub: Hub, account_id: str, receiver: Receiver, block: str) -> list[float]:
    """Queue EVENTS inbound events for B at a steady pace; each one's latency is from the
    moment it is queued (committed) to its arrival at B's receiver."""
    queued: dict[str, float] = {}
    for i in range(EVENTS):
        text = f"{block}/{i}"
        await hub.messaging.receive_inbound(
            account_id,
            source=f"+3934000{i:05d}",
            destination="+393409876543",
            channel=Channel.SMS,
            text=text,
        )
        queued[text] = time.monotonic()
        await asyncio.sleep(INTERVAL_S)
    try:
        arrived = await receiver.await_for(
            EVENTS, timeout=30, predicate=lambda r: r.json()["text"].startswith(f"{block}/")
        )
    except AssertionError:
        raise AssertionError(f"B's deliveries of {block} did not all arrive within 30 s") from None
    return [r.received_at - queued[r.json()["text"]] for r in arrived]


async def measure(
    hub: Hub,
    b_id: str,
    healthy: Receiver,
    disturbance: Callable[[], contextlib.AbstractAsyncContextManager[None]],
) -> tuple[float, float]:
    """B's p99 latency without, and with, tenant A's hammer: alternating blocks."""
    undisturbed: list[float] = []
    disturbed: list[float] = []
    for round_ in range(ROUNDS):
        undisturbed += await latencies(hub, b_id, healthy, f"quiet-{round_}")
        async with disturbance():
            disturbed += await latencies(hub, b_id, healthy, f"busy-{round_}")
    return p99(undisturbed), p99(disturbed)


async def test_hammering_tests_at_a_hanging_server_leaves_others_deliveries_on_time(
    db_url: str, tmp_path: Path
) -> None:
    tls = make_tls(tmp_path / "tls")
    settings = make_settings(
        db_url,
        ca_bundle=tls.ca_pem_path,
        delivery_timeout_s=3.0,
        max_in_flight=POOL,
        test_pool_size=POOL,
        test_rate_per_minute=100_000,
        test_concurrency_per_account=POOL,
        retry_schedule="0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
        circuit_threshold=1000,
    )
    hub = Hub.build(settings)
    app = create_app(settings, run_workers=True, hub=hub)
    results: list[tuple[float, float]] = []
    try:
        async with (
            Receiver(tls) as hanging,
            Receiver(tls) as healthy,
            serving(app) as client,
        ):
            hanging.default_reply = Reply(200, delay_s=3600)  # accepts, reads, never answers
            healthy.default_reply = Reply(200, headers={"Connection": "close"})
            a = await hub.accounts.create("tenant-a")
            b = await hub.accounts.create("tenant-b")
            await hub.delivery_status.create(b.account_id, healthy.url_for("/b"))
            body = webhook_body("SMS", "DLR", "JSON", hanging.url_for("/a"))
            webhook = await create_webhook(client, AccountKey(a.account_id, a.api_key), body)
            url = f"{API}/webhooks/{webhook['id']}/test"

            def disturbance() -> contextlib.AbstractAsyncContextManager[None]:
                return hammering(client, url, a.api_key, hanging)

            await latencies(hub, b.account_id, healthy, "warm-up")
            for _ in range(TRIALS):
                before, during = await measure(hub, b.account_id, healthy, disturbance)
                results.append((before, during))
                if not near_miss(before, during):
                    break
    finally:
        await hub.db.dispose()

    shown = ", ".join(f"{x * 1000:.1f} ms → {y * 1000:.1f} ms" for x, y in results)
    print(f"B's p99, undisturbed → disturbed: {shown}")
    before, during = results[-1]
    assert within_bound(before, during), (
        f"B's p99 went from {before * 1000:.1f} ms to {during * 1000:.1f} ms while A "
        f"hammered tests at a hanging server (every trial: {shown})"
    )
