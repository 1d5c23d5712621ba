"""Nothing is lost when `dlrhub serve` dies or is stopped (issue 2; DESIGN.md "Delivery").

SIGKILL between accepting a message and delivering its webhook, SIGKILL while a delivery is
leased and in flight, and SIGINT (a graceful stop) with deliveries in flight: in every case
the webhook arrives, signed, with the webhook-id of the event. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dlrhub.store.schema import events, messages
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.cli import ServerProcess, server_env
from tests.support.probes import attempts_of, deliveries_of_message, query
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.stack import make_settings
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

GW = "/api/partner-gateway/v1"
LEASE_S = 3.0


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls-crash"))


def _new_account(database: str, name: str) -> AccountKey:
    """An account made straight in the (already migrated) database: the CLI path is covered
    by the end-to-end test, and a subprocess less keeps these tests fast."""

    async def create() -> AccountKey:
        hub = Hub.build(make_settings(database))
        try:
            created = await hub.accounts.create(name)
            return AccountKey(created.account_id, created.api_key)
        finally:
            await hub.db.dispose()

    return asyncio.run(create())


def _client(server: ServerProcess, key: AccountKey) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=key.headers, trust_env=False, timeout=10)


def _register(server: ServerProcess, key: AccountKey, url: str) -> str:
    """Register the delivery-status webhook; returns the account's signing secret."""
    with _client(server, key) as client:
        response = client.post(f"{GW}/webhooks/delivery-status", json={"callbackUrl": url})
        assert response.status_code == 201, response.text
        return str(client.get(f"{GW}/account/signing-secret").json()["secret"])


def _send(server: ServerProcess, key: AccountKey, customer_id: str) -> dict[str, Any]:
    with _client(server, key) as client:
        response = client.post(
            "/api/message-server/sms/send",
            json={
                "destination": "+393401234567",
                "body": "crash test",
                "messageId": customer_id,
                "simulation": True,
            },
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


def _poll(server: ServerProcess, key: AccountKey, customer_id: str) -> dict[str, Any]:
    with _client(server, key) as client:
        response = client.get(f"{GW}/messages/status/{customer_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def _check_delivery_event(request: ReceivedRequest, secret: str, message: dict[str, Any]) -> None:
    assert request.header("content-type") == "application/json"
    verify(secret, request.headers, request.body)
    payload = request.json()
    assert payload["eventType"] == "DELIVERY"
    assert payload["messageId"] == message["messageId"]
    assert payload["status"] == "DELIVERED"
    assert payload["statusCode"] == 3


def test_sigkill_before_delivery_then_restart_delivers(
    db_url: str, tmp_path: Path, tls: TestTLS
) -> None:
    """Two crash points, one kill:

    - "pending": the message is accepted, its outcome (due 3 s later) not yet reported;
    - "leased": the outcome is reported and its delivery is in flight to a receiver that
      hangs, under a lease, when the server dies.

    A new server on the same database reports the one and, once the lease has expired,
    retries the other: both webhooks arrive.
    """
    env = server_env(
        db_url,
        tls.ca_pem_path,
        DLRHUB_SIMULATOR_DELAY_MS="3000",
        DLRHUB_LEASE_S=str(LEASE_S),
    )
    pending_key = _new_account(db_url, "crash-pending")
    leased_key = _new_account(db_url, "crash-leased")
    with Receiver(tls=tls) as pending_rx, Receiver(tls=tls) as leased_rx:
        leased_rx.respond_with(Reply(delay_s=60))  # the first attempt hangs
        first = ServerProcess(env, tmp_path / "logs", log_name="first.log").start()
        try:
            pending_secret = _register(first, pending_key, pending_rx.url_for("/hook"))
            leased_secret = _register(first, leased_key, leased_rx.url_for("/hook"))
            leased_msg = _send(first, leased_key, "leased-1")
            [hung] = leased_rx.wait_for(1, timeout=20)  # reported after 3 s, now in flight
            pending_msg = _send(first, pending_key, "pending-1")
        finally:
            assert first.kill() == -signal.SIGKILL

        # What the crash left behind: one message still SENT with no event at all, and one
        # delivery leased but never recorded as attempted.
        [status] = query(
            db_url, select(messages.c.status).where(messages.c.id == pending_msg["messageId"])
        )
        assert status.status == "SENT"
        assert (
            query(db_url, select(events).where(events.c.message_id == pending_msg["messageId"]))
            == []
        )
        [leased] = deliveries_of_message(db_url, leased_msg["messageId"])
        assert leased.status == "pending"
        assert leased.attempts == 0
        assert leased.lease_expires_at is not None
        assert pending_rx.requests == []

        with ServerProcess(env, tmp_path / "logs", log_name="second.log") as second:
            [arrived] = pending_rx.wait_for(1, timeout=20)
            _check_delivery_event(arrived, pending_secret, pending_msg)

            _, retried = leased_rx.wait_for(2, timeout=20)
            _check_delivery_event(retried, leased_secret, leased_msg)
            assert retried.header("webhook-id") == hung.header("webhook-id")
            assert retried.body == hung.body
            # Not before the dead server's lease ran out (it is not simply sent twice).
            assert retried.received_at - hung.received_at >= LEASE_S - 0.5

            for key, customer_id in ((pending_key, "pending-1"), (leased_key, "leased-1")):
                assert _poll(second, key, customer_id)["status"] == "DELIVERED"
            [done] = asyncio.run(
                wait_until(
                    lambda: _succeeded(db_url, leased_msg["messageId"]),
                    what="leased delivery done",
                    timeout=20,
                )
            )
            assert done.attempts == 1
            assert [a.response_status for a in attempts_of(db_url, done.id)] == [200]
            assert second.stop() == 0, second.log_text()
        assert len(pending_rx.requests) == 1
        assert len(leased_rx.requests) == 2


def _succeeded(database: str, message_id: str) -> list[Any] | None:
    rows = deliveries_of_message(database, message_id)
    return rows if rows and all(row.status == "succeeded" for row in rows) else None


def test_sigint_with_deliveries_in_flight_loses_nothing(
    db_url: str, tmp_path: Path, tls: TestTLS
) -> None:
    """A graceful stop lets an attempt that answers in time finish (recorded as succeeded),
    and records one that cannot (the receiver hangs past the timeout) as failed, so the next
    server retries it. Nothing is lost and nothing is sent twice."""
    env = server_env(db_url, tls.ca_pem_path, DLRHUB_DELIVERY_TIMEOUT_S="3")
    slow_key = _new_account(db_url, "sigint-slow")
    hang_key = _new_account(db_url, "sigint-hang")
    with Receiver(tls=tls) as slow_rx, Receiver(tls=tls) as hang_rx:
        slow_rx.default_reply = Reply(delay_s=1.0)  # answers well within the 3 s timeout
        hang_rx.respond_with(Reply(delay_s=60))  # the first attempt cannot finish
        first = ServerProcess(env, tmp_path / "logs", log_name="first.log").start()
        try:
            slow_secret = _register(first, slow_key, slow_rx.url_for("/hook"))
            hang_secret = _register(first, hang_key, hang_rx.url_for("/hook"))
            slow_msg = _send(first, slow_key, "slow-1")
            hang_msg = _send(first, hang_key, "hang-1")
            slow_rx.wait_for(1, timeout=20)
            [hung] = hang_rx.wait_for(1, timeout=20)
        finally:
            code = first.stop()  # SIGINT while both attempts are in flight
        log = first.log_text()
        assert code == 0, log
        assert "Traceback" not in log, log

        [slow] = deliveries_of_message(db_url, slow_msg["messageId"])
        assert (slow.status, slow.attempts) == ("succeeded", 1)
        assert [a.response_status for a in attempts_of(db_url, slow.id)] == [200]
        [hang] = deliveries_of_message(db_url, hang_msg["messageId"])
        assert (hang.status, hang.attempts) == ("failed", 1)
        assert hang.next_attempt_at is not None
        assert hang.lease_expires_at is None  # released, not left to expire
        hang_attempts = attempts_of(db_url, hang.id)
        assert len(hang_attempts) == 1, (hang_attempts, log)
        [attempt] = hang_attempts
        assert attempt.response_status is None
        assert attempt.error

        with ServerProcess(env, tmp_path / "logs", log_name="second.log") as second:
            _, retried = hang_rx.wait_for(2, timeout=20)
            _check_delivery_event(hung, hang_secret, hang_msg)
            _check_delivery_event(retried, hang_secret, hang_msg)
            assert retried.header("webhook-id") == hung.header("webhook-id")
            asyncio.run(
                wait_until(
                    lambda: _succeeded(db_url, hang_msg["messageId"]),
                    what="retry recorded",
                    timeout=20,
                )
            )
            assert second.stop() == 0, second.log_text()
        [arrived] = slow_rx.requests  # finished before the stop, never sent again
        _check_delivery_event(arrived, slow_secret, slow_msg)
