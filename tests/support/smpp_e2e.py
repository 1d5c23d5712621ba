"""Helpers of the SMPP end-to-end tests (tests/e2e/test_smpp_*.py): a `dlrhub serve`
environment bound to the test SMSC, the API calls they make, and what they check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.support.api_client import AccountKey
from tests.support.cli import server_env
from tests.support.receiver import ReceivedRequest
from tests.support.smsc import Event, TestSmsc
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS

__all__ = [
    "GW",
    "answer_to",
    "client",
    "deliveries_by_message",
    "poll",
    "register",
    "send_real",
    "smpp_env",
    "submits_to",
]

GW = "/api/partner-gateway/v1"


def smpp_env(db_url: str, tls: TestTLS, smsc_url: str, **overrides: str) -> dict[str, str]:
    """A server environment bound to one SMSC, with short leases so takeovers are quick."""
    return server_env(
        db_url,
        tls.ca_pem_path,
        DLRHUB_SMPP_BINDS=smsc_url,
        DLRHUB_SUBMIT_LEASE_S="2",
        DLRHUB_CARRIER_SLOT_LEASE_S="2",
        DLRHUB_SMPP_ENQUIRE_LINK_S="5",
        **overrides,
    )


def client(base_url: str, key: AccountKey) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=key.headers, trust_env=False, timeout=10)


def register(http: httpx.Client, url: str) -> str:
    """The delivery-status webhook; returns the account's signing secret."""
    response = http.post(f"{GW}/webhooks/delivery-status", json={"callbackUrl": url})
    assert response.status_code == 201, response.text
    return str(http.get(f"{GW}/account/signing-secret").json()["secret"])


def send_real(
    http: httpx.Client, destination: str, customer_id: str, body: str = "Hello over SMPP"
) -> dict[str, Any]:
    response = http.post(
        "/api/message-server/sms/send",
        json={
            "destination": destination,
            "body": body,
            "messageId": customer_id,
            "sender": "ACME",
            "simulation": False,
        },
    )
    assert response.status_code == 201, response.text
    sent: dict[str, Any] = response.json()
    assert sent["status"] == "SENT"
    return sent


def poll(http: httpx.Client, customer_id: str) -> dict[str, Any]:
    response = http.get(f"{GW}/messages/status/{customer_id}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def submits_to(smsc: TestSmsc, destination: str) -> list[Event]:
    """The submit_sm the SMSC saw for an E.164 destination (it sees it without the `+`)."""
    return [e for e in smsc.events("submit") if e["destination"] == destination.lstrip("+")]


def answer_to(deliver_id: str) -> Callable[[Event], bool]:
    """Matches the ESME's deliver_sm_resp to the SMSC's deliver_sm `deliver_id`."""

    def matches(event: Event) -> bool:
        return bool(event["event"] == "deliver_sm_resp" and event["id"] == deliver_id)

    return matches


def deliveries_by_message(requests: list[ReceivedRequest], secret: str) -> dict[str, Any]:
    """Each DELIVERY payload by messageId, every request checked as signed."""
    found: dict[str, Any] = {}
    for request in requests:
        verify(secret, request.headers, request.body)
        payload = request.json()
        if payload["eventType"] == "DELIVERY":
            assert payload["messageId"] not in found, payload  # one DELIVERY per message
            found[payload["messageId"]] = payload
    return found
