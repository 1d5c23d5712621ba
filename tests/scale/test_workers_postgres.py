"""Many workers on one PostgreSQL: SIGKILL one mid-flight, lose nothing (issue 3)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from dlrhub.store.engine import create_engine
from dlrhub.store.schema import deliveries
from tests.support.cli import ServerProcess, run_cli
from tests.support.receiver import Receiver, Reply
from tests.support.tls import make_tls

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

EVENTS = int(os.environ.get("DLRHUB_TEST_SCALE_EVENTS", "5000"))


async def _in_flight_of(db_url: str, worker_id: str) -> set[str]:
    """Event ids whose delivery was leased to `worker_id` and not yet recorded."""
    from dlrhub.store.schema import events

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(events.c.id)
                .join(deliveries, deliveries.c.event_id == events.c.id)
                .where(
                    deliveries.c.leased_by == worker_id,
                    deliveries.c.status.in_(("pending", "failed")),
                )
            )
            return {row.id for row in rows}
    finally:
        await engine.dispose()


async def _send_messages(base_url: str, api_key: str, count: int) -> None:
    """`count` simulated SMS, each producing one DELIVERY event. Sends are idempotent by
    messageId, so a request cut off by a connection reset is simply sent again."""
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        semaphore = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            body = {
                "destination": f"+39340{i:07d}",
                "body": f"message {i}",
                "messageId": f"scale-{i}",
                "simulation": True,
            }
            async with semaphore:
                for attempt in range(5):
                    try:
                        response = await client.post(
                            "/api/message-server/sms/send",
                            json=body,
                            headers={"X-Api-Key": api_key},
                        )
                        break
                    except httpx.TransportError:
                        if attempt == 4:
                            raise
                assert response.status_code in (200, 201), response.text

        await asyncio.gather(*(one(i) for i in range(count)))


async def test_sigkill_one_of_two_workers_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    db_url = postgres_url  # scale-out is PostgreSQL's; SQLite runs one `serve` (e2e tests)
    tls = make_tls(tmp_path)
    env = {
        "DLRHUB_DATABASE_URL": db_url,
        "DLRHUB_CA_BUNDLE": str(tls.ca_pem_path),
        "DLRHUB_LEASE_S": "3",
        "DLRHUB_RETRY_SCHEDULE": "1,1,1,1,1",
        "DLRHUB_POLL_INTERVAL_S": "0.5",
        "DLRHUB_LOG_LEVEL": "warning",
        "DLRHUB_SIMULATOR_DELAY_MS": "0",
    }
    # A slowish receiver keeps deliveries in flight, so the kill lands mid-work.
    with Receiver(tls) as receiver:
        receiver.default_reply = Reply(200, delay_s=0.02)
        api = ServerProcess(env, tmp_path, args=("api", "--dev"), log_name="api.log").start()
        workers = [
            ServerProcess(env, tmp_path, args=("worker", "--dev"), log_name=f"w{i}.log").start()
            for i in range(2)
        ]
        try:
            created = run_cli("accounts", "create", "scale", "--json", env=env)
            assert created.returncode == 0, created.stderr
            api_key = json.loads(created.stdout)["apiKey"]
            async with httpx.AsyncClient(base_url=api.base_url) as client:
                registered = await client.post(
                    "/api/partner-gateway/v1/webhooks/delivery-status",
                    json={"callbackUrl": f"{receiver.url}/hook"},
                    headers={"X-Api-Key": api_key},
                )
                assert registered.status_code == 201, registered.text
            await _send_messages(api.base_url, api_key, EVENTS)
            await receiver.await_for(EVENTS // 3, timeout=60)
            victim = workers[0]
            victim_id = f"{socket.gethostname()}:{victim.pid}"
            victim.kill()
            in_flight = await _in_flight_of(db_url, victim_id)
            await receiver.await_for(EVENTS, timeout=120, predicate=None)
            # Everything arrives at least once: wait until each event id has been seen.
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                seen = Counter(r.header("webhook-id") for r in receiver.requests)
                if len(seen) >= EVENTS or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            for process in (*workers, api):
                if process.is_running():
                    process.stop()
    assert len(seen) == EVENTS, f"{EVENTS - len(seen)} events never delivered"
    duplicated = {event_id for event_id, count in seen.items() if count > 1}
    assert duplicated <= in_flight, (
        f"{len(duplicated - in_flight)} duplicates were not in flight at the kill"
    )
    assert victim.returncode == -signal.SIGKILL
