"""Acceptance (issue 4): for each of the four methods, the exact request a real HTTPS receiver
gets for a DELIVERY, a READ and an INBOUND event, with renamed parameters, custom params and
custom headers, signed over exactly the bytes sent."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from dlrhub import __version__
from dlrhub.config import Settings
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey, inbound, send, signing_secret
from tests.support.receiver import ReceivedRequest
from tests.support.richer_webhooks import (
    MO_NAMES,
    NUMBER_A,
    WA_DLR_NAMES,
    RawReceiver,
    create_webhook,
    form,
    json_document,
    webhook_body,
    xml_document,
)
from tests.support.stack import make_settings, running_workers
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls

METHODS = ("GET", "POST", "JSON", "XML")
CUSTOM_PARAMS = {"source": "dlr hub", "note": "è & <ok>"}
CUSTOM_HEADERS = {"X-Tenant": "acme", "Authorization": "Bearer s3cret"}
DESTINATION = "+393401234567"
TEXT = "Sì, confermo & <ok>\r\nGrazie"
CONTENT_TYPES = {
    "POST": "application/x-www-form-urlencoded",
    "JSON": "application/json",
    "XML": "application/xml",
}


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def settings(db_url: str, tls: TestTLS) -> Settings:
    # A simulator delay over 1 s makes sent, delivered and read times differ.
    return make_settings(db_url, ca_bundle=tls.ca_pem_path, simulator_delay_ms=1100)


def path_of(method: str, report_type: str) -> str:
    return f"/{method.lower()}/{report_type.lower()}"


def url_of(receiver: RawReceiver, method: str, report_type: str) -> str:
    # GET webhooks keep the query their URL already has.
    query = "?token=abc" if method == "GET" else ""
    return receiver.url_for(path_of(method, report_type)) + query


def encode(method: str, pairs: list[tuple[str, str]]) -> bytes:
    if method in ("GET", "POST"):
        return form(pairs).encode()
    if method == "JSON":
        return json_document(pairs).encode()
    return xml_document(pairs).encode()


def check_request(
    receiver: RawReceiver,
    received: ReceivedRequest,
    *,
    method: str,
    pairs: list[tuple[str, str]],
    event_id: str,
    secret: str,
) -> None:
    encoded = encode(method, pairs)
    assert received.method == ("GET" if method == "GET" else "POST")
    raw_query = receiver.raw_query(received)
    if method == "GET":
        assert raw_query == "token=abc&" + encoded.decode()
        assert received.body == b""
        signed = raw_query.encode()
    else:
        assert raw_query == ""
        assert received.body == encoded
        signed = encoded
    expected = {
        "host": f"127.0.0.1:{receiver.port}",
        "user-agent": f"dlrhub/{__version__}",
        "x-tenant": "acme",
        "authorization": "Bearer s3cret",
        "webhook-id": event_id,
    }
    if method != "GET":
        expected["content-type"] = CONTENT_TYPES[method]
        expected["content-length"] = str(len(encoded))
    for name, value in expected.items():
        assert received.header(name) == value, name
    # Beyond ours, only what every HTTP client sends.
    extra = set(received.headers) - set(expected)
    assert extra == {"webhook-timestamp", "webhook-signature", "accept", "accept-encoding"}
    verify(secret, received.headers, signed)


async def test_exact_requests_for_every_method_and_event(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, tls: TestTLS
) -> None:
    await hub.accounts.add_waba_number(account.account_id, NUMBER_A)
    secret = await signing_secret(api, account)
    async with RawReceiver(tls) as receiver:
        response = await api.post(
            f"{API}/webhooks/delivery-status",
            json={"callbackUrl": receiver.url_for("/ds")},
            headers=account.headers,
        )
        assert response.status_code == 201
        for method in METHODS:
            for report_type in ("DLR", "MO"):
                body = webhook_body(
                    "WHATSAPP",
                    report_type,
                    method,
                    url_of(receiver, method, report_type),
                    waba_number=NUMBER_A,
                    custom_params=CUSTOM_PARAMS,
                    custom_headers=CUSTOM_HEADERS,
                )
                await create_webhook(api, account, body)
        async with running_workers(hub):
            sent = await send(
                api,
                account,
                "WHATSAPP",
                destination=DESTINATION,
                phoneNumberId=NUMBER_A,
                messageId="order-1&2",
            )
            # DELIVERY and READ to 4 DLR webhooks, INBOUND to 4 MO webhooks, 3 to delivery-status.
            await receiver.await_for(2, predicate=lambda r: r.path == "/ds")
            inbound_id = await inbound(api, account, "WHATSAPP", DESTINATION, NUMBER_A, TEXT)
            await receiver.await_for(15)
        status = (
            await api.get(f"{API}/messages/status/order-1%262", headers=account.headers)
        ).json()
        assert status["status"] == "READ"
        assert len({status["sentAt"], status["deliveredAt"], status["readAt"]}) == 3
        by_type = {r.json()["eventType"]: r for r in receiver.requests if r.path == "/ds"}
        assert set(by_type) == {"DELIVERY", "READ", "INBOUND"}
        ids = {kind: r.header("webhook-id") for kind, r in by_type.items()}
        assert ids["INBOUND"] == inbound_id

        dlr_common = [
            ("ref", "order-1&2"),
            ("msgid", sent["messageId"]),
            ("err", "0"),
            ("msisdn", DESTINATION),
            ("submitted", status["sentAt"]),
            ("delivered", status["deliveredAt"]),
        ]
        expected_pairs = {
            "DELIVERY": [*dlr_common, ("read_at", ""), ("stat", "DELIVERED")],
            "READ": [*dlr_common, ("read_at", status["readAt"]), ("stat", "READ")],
            "INBOUND": [
                ("mo_id", inbound_id),
                ("from", DESTINATION),
                ("body", TEXT),
                ("received", by_type["INBOUND"].json()["timestamp"]),
                ("kind", "TEXT"),
            ],
        }
        assert WA_DLR_NAMES["readTime"] == "read_at"
        assert MO_NAMES["text"] == "body"
        richer_requests = [r for r in receiver.requests if r.path != "/ds"]
        assert len(richer_requests) == 12
        for method in METHODS:
            for event_type, report_type in (
                ("DELIVERY", "DLR"),
                ("READ", "DLR"),
                ("INBOUND", "MO"),
            ):
                [received] = [
                    r
                    for r in richer_requests
                    if r.path == path_of(method, report_type)
                    and r.header("webhook-id") == ids[event_type]
                ]
                check_request(
                    receiver,
                    received,
                    method=method,
                    pairs=expected_pairs[event_type] + list(CUSTOM_PARAMS.items()),
                    event_id=ids[event_type],
                    secret=secret,
                )
