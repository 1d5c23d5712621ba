"""Catch-up after an outage through the real CLI (issue 13 item 5, docs/catch-up.md).

`dlrhub serve` in a subprocess, an account and a WhatsApp number made with the CLI, simulated
messages on SMS and WhatsApp and an inbound: GET /events lists exactly the events the webhook
received, each payload byte for byte, in the events table's position order. Then the
receiver goes down: what it missed is pulled from its saved cursor, and the same cursor gives
the same answer from a restarted server. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dlrhub.domain.payloads import encode_payload
from dlrhub.store.schema import events
from tests.support.api_client import AccountKey
from tests.support.cli import ServerProcess, create_account_with_cli, run_cli, server_env
from tests.support.probes import query
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

GW = "/api/partner-gateway/v1"
WABA = "+393409876543"
# (channel, destination): SMS delivered, SMS error, WhatsApp delivered then read.
FIRST = [("sms", "+393401234567"), ("sms", "+393400000006"), ("whatsapp", "+393411234567")]
# Sent while the receiver is down (both delivered, neither read).
MISSED = [("sms", "+393401230003"), ("whatsapp", "+393411230003")]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls-feed"))


def _send(client: httpx.Client, channel: str, destination: str) -> str:
    body: dict[str, Any] = {"destination": destination, "body": "feed", "simulation": True}
    body.update({"phoneNumberId": WABA} if channel == "whatsapp" else {"sender": "ACME"})
    response = client.post(f"/api/message-server/{channel}/send", json=body)
    assert response.status_code == 201, response.text
    message_id: str = response.json()["messageId"]
    return message_id


def _pull(client: httpx.Client, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Every listed event after `after`, in pages of 2; and the cursor to resume from."""
    pulled: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": 2} | ({} if after is None else {"after": after})
        response = client.get(f"{GW}/events", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["events"]:
            assert page["nextCursor"] == after
            return pulled, after
        pulled += page["events"]
        after = page["nextCursor"]


def _pull_until(
    client: httpx.Client, after: str | None, count: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Positions appear within about a poll interval of the commit: wait for `count`."""

    def probe() -> tuple[list[dict[str, Any]], str | None] | None:
        pulled = _pull(client, after)
        assert len(pulled[0]) <= count, pulled[0]
        return pulled if len(pulled[0]) == count else None

    result: tuple[list[dict[str, Any]], str | None] = asyncio.run(
        wait_until(probe, what=f"{count} events in the feed", timeout=20)
    )
    return result


def _by_webhook_id(requests: list[ReceivedRequest]) -> dict[str, bytes]:
    return {str(request.header("webhook-id")): request.body for request in requests}


def _attempted(receiver: Receiver, before: int, count: int) -> dict[str, bytes] | None:
    """The bodies of the events attempted since request `before`, once there are `count`
    (retries of one event may come before another's first attempt)."""
    attempted = _by_webhook_id(receiver.requests[before:])
    return attempted if len(attempted) >= count else None


def _stored(database: str, account_id: str) -> list[Any]:
    statement = (
        select(events.c.id, events.c.payload, events.c.position)
        .where(events.c.account_id == account_id)
        .order_by(events.c.position)
    )
    return query(database, statement)


def _check_against_table(database: str, key: AccountKey, listed: list[dict[str, Any]]) -> None:
    """The feed is the account's events table in position order, payloads as stored."""
    rows = _stored(database, key.account_id)
    assert [row.id for row in rows] == [item["eventId"] for item in listed]
    for row, item in zip(rows, listed, strict=True):
        assert encode_payload(item["payload"]).decode() == row.payload


def test_feed_matches_webhooks_and_catches_up_after_an_outage(
    db_url: str, tmp_path: Path, tls: TestTLS
) -> None:
    env = server_env(db_url, tls.ca_pem_path)
    with Receiver(tls=tls) as receiver:
        first = ServerProcess(env, tmp_path / "logs", log_name="first.log").start()
        try:
            key = create_account_with_cli(env, "feed-customer")
            added = run_cli("accounts", "add-waba", key.account_id, WABA, env=env)
            assert added.returncode == 0, (added.stdout, added.stderr)
            with httpx.Client(
                base_url=first.base_url, headers=key.headers, trust_env=False, timeout=10
            ) as client:
                cursor = _while_up(client, receiver, db_url, key)
                missed = _while_receiver_down(client, receiver, db_url, key, cursor)
            assert first.stop() == 0, first.log_text()
        finally:
            if first.is_running():
                first.kill()
        # The cursor is stable: a restarted server answers it the same way.
        with (
            ServerProcess(env, tmp_path / "logs", log_name="second.log") as second,
            httpx.Client(
                base_url=second.base_url, headers=key.headers, trust_env=False, timeout=10
            ) as client,
        ):
            assert _pull(client, cursor)[0] == missed
            assert second.stop() == 0, second.log_text()
    assert "Traceback" not in first.log_text() + second.log_text()


def _while_up(client: httpx.Client, receiver: Receiver, database: str, key: AccountKey) -> str:
    """Everything delivered: the feed lists exactly the webhooks received, byte for byte."""
    registered = client.post(
        f"{GW}/webhooks/delivery-status", json={"callbackUrl": receiver.url_for("/hook")}
    )
    assert registered.status_code == 201, registered.text
    message_ids = [_send(client, channel, destination) for channel, destination in FIRST]
    inbound = client.post(
        f"{GW}/simulate/inbound",
        json={"source": "+393401234568", "destination": WABA, "channel": "SMS", "text": "Ok 👍"},
    )
    assert inbound.status_code == 201, inbound.text
    expected = len(FIRST) + 1 + 1  # one DELIVERY each, one READ, one INBOUND
    received = _by_webhook_id(receiver.wait_for(expected, timeout=30))

    listed, cursor = _pull_until(client, None, expected)
    assert cursor is not None
    assert {item["eventId"] for item in listed} == set(received)
    for item in listed:
        assert encode_payload(item["payload"]) == received[item["eventId"]]
    # The simulator reports outcomes in its own order: the feed follows the events, not sends.
    delivered = [i["messageId"] for i in listed if i["eventType"] == "DELIVERY"]
    assert sorted(delivered) == sorted(message_ids)
    kinds = [(item["messageId"], item["eventType"]) for item in listed]
    assert kinds.index((message_ids[2], "DELIVERY")) < kinds.index((message_ids[2], "READ"))
    _check_against_table(database, key, listed)
    return cursor


def _while_receiver_down(
    client: httpx.Client, receiver: Receiver, database: str, key: AccountKey, cursor: str
) -> list[dict[str, Any]]:
    """The receiver answers 503 to everything: from its saved cursor it pulls exactly the
    events it missed (the ones being retried), and the whole feed is still the table."""
    before = len(receiver.requests)
    receiver.default_reply = Reply(503, b"down for maintenance")
    message_ids = [_send(client, channel, destination) for channel, destination in MISSED]
    missed, _ = _pull_until(client, cursor, len(MISSED))  # delivered, none read
    assert sorted(item["messageId"] for item in missed) == sorted(message_ids)
    failed = asyncio.run(
        wait_until(lambda: _attempted(receiver, before, len(missed)), what="failed attempts")
    )
    assert set(failed) == {item["eventId"] for item in missed}
    for item in missed:
        assert encode_payload(item["payload"]) == failed[item["eventId"]]
    everything, _ = _pull(client, None)
    _check_against_table(database, key, everything)
    return missed
