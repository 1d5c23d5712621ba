"""THE end-to-end acceptance test of issue 2: the real `dlrhub serve --dev` in a subprocess.

An account made with the CLI, a real HTTPS receiver (trustme certificate, trusted by the
server only through DLRHUB_CA_BUNDLE), messages on every channel with `simulation: true`,
and every payload of SPEC §6 received exactly, signed (checked by an independent Standard
Webhooks implementation), and matching what polling says. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dlrhub.store.schema import deliveries
from tests.support.assertions import ISO_Z, is_uuid
from tests.support.cli import ServerProcess, create_account_with_cli, run_cli, server_env
from tests.support.contract import DELIVERY_KEYS, INBOUND_KEYS, READ_KEYS
from tests.support.databases import e2e_database, table_names
from tests.support.probes import query
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

GW = "/api/partner-gateway/v1"
CODES = {"DELIVERED": 3, "ERROR": 6, "EXPIRED": 8}

# (channel, destination, the final polled status); SPEC §10 decides by the last four digits.
CASES: list[tuple[str, str, str]] = [
    ("sms", "+393400000006", "ERROR"),
    ("sms", "+393400000008", "EXPIRED"),
    ("sms", "+393400000003", "DELIVERED"),
    ("sms", "+393401234567", "DELIVERED"),
    ("whatsapp", "+393410000006", "ERROR"),
    ("whatsapp", "+393410000008", "EXPIRED"),
    ("whatsapp", "+393410000003", "DELIVERED"),  # delivered, never read
    ("whatsapp", "+393411234567", "READ"),
    ("rcs", "+393420000006", "ERROR"),
    ("rcs", "+393420000008", "EXPIRED"),
    ("rcs", "+393420000003", "DELIVERED"),
    ("rcs", "+393421234567", "READ"),
]
INBOUNDS = [
    {
        "source": "+393401234567",
        "destination": "+393409876543",
        "channel": "WHATSAPP",
        "text": "Yes, I confirm my appointment",
    },
    {"source": "+393401234568", "destination": "+393409876544", "channel": "SMS", "text": "STOP"},
    {"source": "+393401234569", "destination": "+393409876545", "channel": "RCS", "text": "Ok 👍"},
]


def _send_body(channel: str, destination: str, customer_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destination": destination,
        "body": f"Hello from the e2e test ({channel})",
        "messageId": customer_id,
        "simulation": True,
    }
    if channel == "whatsapp":
        body["phoneNumberId"] = "+393409876543"
    else:
        body["sender"] = "ACME"
    return body


def _check_request(request: ReceivedRequest, secret: str) -> None:
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.header("content-type") == "application/json"
    assert (request.header("user-agent") or "").startswith("dlrhub/")
    assert is_uuid(request.header("webhook-id"))
    verify(secret, request.headers, request.body)


def test_serve_end_to_end(db_url: str, tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    with e2e_database(db_url, tmp_path) as database:
        assert table_names(database) == []  # `serve` creates the schema itself
        _serve(database, tls, tmp_path)


def _serve(database: str, tls: TestTLS, tmp_path: Path) -> None:
    env = server_env(database, tls.ca_pem_path)
    with Receiver(tls=tls) as receiver, ServerProcess(env, tmp_path / "logs") as server:
        assert "demo API key: dlr_" in server.log_text()
        key = create_account_with_cli(env, "e2e-customer")
        # WhatsApp sends only from one of the account's business numbers (SPEC §2).
        added = run_cli("accounts", "add-waba", key.account_id, "+393409876543", env=env)
        assert added.returncode == 0, (added.stdout, added.stderr)
        # The first delivery attempt fails: one event is retried, with the same webhook-id.
        receiver.respond_with(Reply(500, b"not yet"))
        with httpx.Client(
            base_url=server.base_url, headers=key.headers, trust_env=False, timeout=10
        ) as client:
            _exercise(client, receiver, database)
        log = server.log_text()
        assert server.stop() == 0, log
    assert "Traceback" not in server.log_text(), server.log_text()


def _exercise(client: httpx.Client, receiver: Receiver, database: str) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/docs").status_code == 200

    callback = receiver.url_for("/hook")
    registered = client.post(f"{GW}/webhooks/delivery-status", json={"callbackUrl": callback})
    assert registered.status_code == 201, registered.text
    assert registered.json()["callbackUrl"] == callback
    secret_response = client.get(f"{GW}/account/signing-secret")
    assert secret_response.status_code == 200
    secret = secret_response.json()["secret"]
    assert secret.startswith("whsec_")

    sent: dict[str, dict[str, Any]] = {}
    for channel, destination, _ in CASES:
        customer_id = f"e2e-{channel}-{destination[-4:]}"
        response = client.post(
            f"/api/message-server/{channel}/send",
            json=_send_body(channel, destination, customer_id),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["customerMessageId"] == customer_id
        assert body["status"] == "SENT"
        assert body["channel"] == channel.upper()
        sent[customer_id] = body
    for inbound in INBOUNDS:
        response = client.post(f"{GW}/simulate/inbound", json=inbound)
        assert response.status_code == 201, response.text

    reads = sum(1 for *_, final in CASES if final == "READ")
    expected_events = len(CASES) + reads + len(INBOUNDS)
    requests = receiver.wait_for(expected_events + 1, timeout=30)

    # Every request is signed and well-formed; grouped by event, only the first retried.
    grouped: dict[str, list[ReceivedRequest]] = {}
    for request in requests:
        _check_request(request, secret)
        grouped.setdefault(str(request.header("webhook-id")), []).append(request)
    assert len(grouped) == expected_events
    retried = [group for group in grouped.values() if len(group) > 1]
    assert len(retried) == 1, [len(g) for g in grouped.values()]
    assert len(retried[0]) == 2
    assert retried[0][0].body == retried[0][1].body
    assert requests[0] is retried[0][0]  # the one that got the 500

    payloads = [group[0].json() for group in grouped.values()]
    polled = _poll_everything(client, sent)
    _check_delivery_and_read_events(payloads, sent, polled)
    _check_inbound_events(payloads)

    # Nothing left to send: every delivery succeeded, with one attempt each but one.
    rows = asyncio.run(
        wait_until(lambda: _all_succeeded(database), what="every delivery succeeded", timeout=10)
    )
    assert len(rows) == expected_events
    assert sum(row.attempts for row in rows) == expected_events + 1
    assert len(receiver.requests) == expected_events + 1


def _all_succeeded(database: str) -> list[Any] | None:
    rows = query(database, select(deliveries))
    return rows if rows and all(row.status == "succeeded" for row in rows) else None


def _poll_everything(
    client: httpx.Client, sent: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    finals = {f"e2e-{channel}-{destination[-4:]}": final for channel, destination, final in CASES}
    polled: dict[str, dict[str, Any]] = {}
    for customer_id, message in sent.items():
        response = client.get(f"{GW}/messages/status/{customer_id}")
        assert response.status_code == 200, response.text
        view = response.json()
        final = finals[customer_id]
        assert view["messageId"] == message["messageId"]
        assert view["customerMessageId"] == customer_id
        assert view["channel"] == message["channel"]
        assert view["status"] == final, view
        assert view["statusCode"] == CODES.get(final), view
        assert ISO_Z.match(view["sentAt"])
        if final in ("DELIVERED", "READ"):
            assert ISO_Z.match(view["deliveredAt"])
            assert view["error"] is None
        else:
            assert view["deliveredAt"] is None
            assert view["error"]
        assert (view["readAt"] is not None) == (final == "READ")
        channel = message["channel"]
        narrowed = client.get(f"{GW}/messages/status/{customer_id}", params={"channel": channel})
        assert narrowed.json() == view
        other = "SMS" if channel != "SMS" else "RCS"
        mismatch = client.get(f"{GW}/messages/status/{customer_id}", params={"channel": other})
        assert mismatch.status_code == 404
        polled[customer_id] = view

    ids = [*sent, "no-such-message"]
    for param in ("customerMessageIds", "ids"):
        response = client.get(f"{GW}/messages/status", params={param: ",".join(ids)})
        assert response.status_code == 200, response.text
        batch = response.json()
        assert batch["notFound"] == ["no-such-message"]
        assert {m["customerMessageId"]: m for m in batch["messages"]} == polled
    return polled


def _check_delivery_and_read_events(
    payloads: list[dict[str, Any]],
    sent: dict[str, dict[str, Any]],
    polled: dict[str, dict[str, Any]],
) -> None:
    destinations = {f"e2e-{c}-{d[-4:]}": d for c, d, _ in CASES}
    delivery = {p["customerMessageId"]: p for p in payloads if p["eventType"] == "DELIVERY"}
    read = {p["customerMessageId"]: p for p in payloads if p["eventType"] == "READ"}
    assert set(delivery) == set(sent)
    assert set(read) == {cid for cid, view in polled.items() if view["status"] == "READ"}
    assert len(delivery) + len(read) == sum(
        1 for p in payloads if p["eventType"] in ("DELIVERY", "READ")
    )

    for customer_id, payload in delivery.items():
        view = polled[customer_id]
        outcome = "DELIVERED" if view["status"] == "READ" else view["status"]
        assert set(payload) == DELIVERY_KEYS
        assert payload == {
            "eventType": "DELIVERY",
            "messageId": sent[customer_id]["messageId"],
            "customerMessageId": customer_id,
            "destination": destinations[customer_id],
            "statusCode": CODES[outcome],
            "status": outcome,
            "description": payload["description"],
            "channel": sent[customer_id]["channel"],
            "timestamp": payload["timestamp"],
            "error": view["error"],
            "sequence": 1,  # a message's first event (docs/ordering.md)
        }
        assert isinstance(payload["description"], str)
        assert payload["description"]
        if outcome == "DELIVERED":
            assert payload["description"] == "Message delivered"
            assert payload["timestamp"] == view["deliveredAt"]
        else:
            assert payload["description"] == view["description"]
            assert ISO_Z.match(payload["timestamp"])

    for customer_id, payload in read.items():
        view = polled[customer_id]
        assert set(payload) == READ_KEYS
        assert payload == {
            "eventType": "READ",
            "messageId": sent[customer_id]["messageId"],
            "customerMessageId": customer_id,
            "destination": destinations[customer_id],
            "channel": sent[customer_id]["channel"],
            "timestamp": view["readAt"],
            "sequence": 2,  # after its DELIVERY
        }
        assert payload["channel"] in ("WHATSAPP", "RCS")


def _check_inbound_events(payloads: list[dict[str, Any]]) -> None:
    inbound = [p for p in payloads if p["eventType"] == "INBOUND"]
    assert len(inbound) == len(INBOUNDS)
    by_source = {p["source"]: p for p in inbound}
    for sent in INBOUNDS:
        payload = by_source[sent["source"]]
        assert set(payload) == INBOUND_KEYS
        assert ISO_Z.match(payload["timestamp"])
        assert payload == {
            "eventType": "INBOUND",
            "source": sent["source"],
            "destination": sent["destination"],
            "text": sent["text"],
            "channel": sent["channel"],
            "messageType": "TEXT",
            "timestamp": payload["timestamp"],
        }
