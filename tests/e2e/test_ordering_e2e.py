"""Per-message order to each webhook through the real CLI (issue 13 item 1, docs/ordering.md).

The issue's acceptance test: 1,000 simulated WhatsApp messages to a real HTTPS receiver that
fails the first attempt of every DELIVERY. The simulator reports each READ long before the
DELIVERY's retry is due, so without the order every READ would overtake its DELIVERY; with it,
every READ (sequence 2) arrives after its DELIVERY (sequence 1) succeeded. On SQLite through
one `dlrhub serve`, on PostgreSQL through `dlrhub api` and two `dlrhub worker` processes.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dlrhub.store.schema import deliveries, delivery_attempts, events
from tests.support.api_client import AccountKey
from tests.support.cli import ServerProcess, create_account_with_cli, run_cli, server_env
from tests.support.probes import query
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

GW = "/api/partner-gateway/v1"
WABA = "+393409876543"
COUNT = 1000  # the number
SENDERS = 8  # concurrent send requests
# The whole run (sends, every DELIVERY failed once and retried, every READ) stays well inside.
ARRIVALS_TIMEOUT_S = 90.0
_ATTEMPTS = re.compile(r'^dlrhub_delivery_attempts_total\{outcome="[^"]*"\} (\S+)$', re.M)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls-ordering"))


class FailFirstDelivery:
    """The receiver's rule: 500 to the first attempt of every DELIVERY event (by webhook-id),
    200 to everything else. Called under the receiver's lock in arrival order, so `statuses`
    lines up with `Receiver.requests`."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self.statuses: list[int] = []

    def __call__(self, request: ReceivedRequest) -> Reply:
        webhook_id = request.header("webhook-id") or ""
        first = webhook_id not in self._seen
        self._seen.add(webhook_id)
        status = 500 if first and request.json().get("eventType") == "DELIVERY" else 200
        self.statuses.append(status)
        return Reply(status)


@contextmanager
def dlrhub(database: str, env: dict[str, str], logs: Path) -> Iterator[list[ServerProcess]]:
    """SQLite: one `serve`. PostgreSQL: `api` and two `worker`s (the first item is the API)."""
    if database.startswith("sqlite"):
        with ServerProcess(env, logs, log_name="serve.log") as serve:
            yield [serve]
        return
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    processes = [ServerProcess(env, logs, args=("api", "--dev"), log_name="api.log").start()]
    try:
        for n in range(2):
            worker = ServerProcess(env, logs, args=("worker", "--dev"), log_name=f"w{n}.log")
            processes.append(worker.start())
        yield processes
    finally:
        for process in reversed(processes):
            process.stop()


def _register(http: httpx.Client, url: str) -> str:
    """The account's delivery-status webhook; returns its signing secret."""
    response = http.post(f"{GW}/webhooks/delivery-status", json={"callbackUrl": url})
    assert response.status_code == 201, response.text
    return str(http.get(f"{GW}/account/signing-secret").json()["secret"])


def _send_all(http: httpx.Client) -> dict[str, str]:
    """COUNT simulated WhatsApp sends from the registered number: platform id -> customer id.
    Destinations end in 1, never in the simulator's special digits (0003, 0006, 0008)."""

    def send(n: int) -> tuple[str, str]:
        customer_id = f"order-{n}"
        response = http.post(
            "/api/message-server/whatsapp/send",
            json={
                "destination": f"+3934{n:07d}1",
                "body": f"ordering {n}",
                "messageId": customer_id,
                "phoneNumberId": WABA,
                "simulation": True,
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["messageId"]), customer_id

    with ThreadPoolExecutor(SENDERS) as pool:
        return dict(pool.map(send, range(COUNT)))


def _is_read(request: ReceivedRequest) -> bool:
    return bool(request.json().get("eventType") == "READ")


def _check_arrivals(
    requests: list[ReceivedRequest], statuses: list[int], secret: str, sent: dict[str, str]
) -> None:
    """Per message, in arrival order: its DELIVERY refused (500), the same DELIVERY again
    (200), then its READ (200) — never the READ before the DELIVERY succeeded."""
    assert len(statuses) == len(requests)
    by_message: dict[str, list[tuple[ReceivedRequest, dict[str, Any], int]]] = {}
    for request, status in zip(requests, statuses, strict=True):
        verify(secret, request.headers, request.body)
        payload = request.json()
        by_message.setdefault(payload["messageId"], []).append((request, payload, status))
    assert set(by_message) == set(sent)
    for message_id, arrivals in by_message.items():
        seen = [(p["eventType"], p["sequence"], status) for _r, p, status in arrivals]
        assert seen == [("DELIVERY", 1, 500), ("DELIVERY", 1, 200), ("READ", 2, 200)], (
            message_id,
            seen,
        )
        (failed, delivery, _), (retried, _, _), (read, read_payload, _) = arrivals
        assert retried.header("webhook-id") == failed.header("webhook-id")
        assert read.header("webhook-id") != failed.header("webhook-id")
        assert (delivery["status"], delivery["statusCode"]) == ("DELIVERED", 3)
        assert delivery["customerMessageId"] == read_payload["customerMessageId"]
        assert delivery["customerMessageId"] == sent[message_id]
        assert read.received_at > retried.received_at


def _reads_held_back(database: str) -> int:
    """How many READ events existed before their DELIVERY's successful attempt: the READs
    the order actually held back (so a test without the order would have seen them first)."""
    delivery_events = events.alias("delivery_events")
    read_events = events.alias("read_events")
    rows = query(
        database,
        select(read_events.c.created_at, delivery_attempts.c.attempted_at)
        .select_from(delivery_events)
        .join(deliveries, deliveries.c.event_id == delivery_events.c.id)
        .join(delivery_attempts, delivery_attempts.c.delivery_id == deliveries.c.id)
        .join(read_events, read_events.c.message_id == delivery_events.c.message_id)
        .where(
            delivery_events.c.event_type == "DELIVERY",
            read_events.c.event_type == "READ",
            delivery_attempts.c.response_status == 200,
        ),
    )
    return sum(1 for row in rows if row.created_at < row.attempted_at)


def _attempts_made(worker: ServerProcess) -> float:
    """The delivery attempts this worker process made (its /metrics)."""
    with urllib.request.urlopen(f"{worker.base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(value) for value in _ATTEMPTS.findall(text))


def _attempts_by_worker(workers: list[ServerProcess]) -> list[float]:
    """Each worker's attempts once they add up to every one the receiver saw (3 a message);
    a worker counts an attempt after its answer arrived, so the last one may lag a moment."""
    if not workers:
        return []

    def counted() -> list[float] | None:
        found = [_attempts_made(worker) for worker in workers]
        return found if sum(found) == 3 * COUNT else None

    return asyncio.run(wait_until(counted, timeout=10, what=f"{3 * COUNT} attempts counted"))


def test_every_read_arrives_after_its_delivery_succeeded(
    db_url: str, tmp_path: Path, tls: TestTLS
) -> None:
    env = server_env(
        db_url,
        tls.ca_pem_path,
        # The READ is reported 100 ms after the DELIVERED, long before its retry (0.5 s).
        DLRHUB_SIMULATOR_DELAY_MS="100",
        DLRHUB_RETRY_SCHEDULE="0.5,0.5,1",
        # Every DELIVERY fails once: the breaker and the ramp must not throttle the webhook.
        DLRHUB_CIRCUIT_THRESHOLD="1000000",
        DLRHUB_INITIAL_IN_FLIGHT_PER_WEBHOOK="64",
        DLRHUB_LOG_LEVEL="warning",
    )
    key: AccountKey = create_account_with_cli(env, "ordering-e2e")
    added = run_cli("accounts", "add-waba", key.account_id, WABA, env=env)
    assert added.returncode == 0, added.stderr
    rule = FailFirstDelivery()
    with Receiver(tls=tls) as receiver, dlrhub(db_url, env, tmp_path / "logs") as processes:
        receiver.reply_for = rule
        api = processes[0]
        started = time.monotonic()
        with httpx.Client(
            base_url=api.base_url, headers=key.headers, trust_env=False, timeout=30
        ) as http:
            secret = _register(http, receiver.url_for("/dlr"))
            sent = _send_all(http)
        sent_s = time.monotonic() - started
        receiver.wait_for(COUNT, timeout=ARRIVALS_TIMEOUT_S, predicate=_is_read)
        done_s = time.monotonic() - started
        per_worker = _attempts_by_worker(processes[1:])
    print(f"{COUNT} messages: sent in {sent_s:.1f} s, every READ in {done_s:.1f} s", per_worker)
    _check_arrivals(receiver.requests, rule.statuses, secret, sent)
    # Not a vacuous pass: nearly every READ existed while its DELIVERY was still retrying.
    assert _reads_held_back(db_url) >= COUNT * 0.9
    # PostgreSQL: both workers took part.
    assert all(attempts > 0 for attempts in per_worker), per_worker
