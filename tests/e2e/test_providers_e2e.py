"""Real WhatsApp and RCS end to end through the real CLI (issue 12; SPEC §11.3, §11.4).

`dlrhub serve` in a subprocess pointed at the Meta or Google stand-in (its own process, posting
signed notifications to serve's `/carrier/v1/...`), an account made with `dlrhub accounts
create` and its number registered with `accounts add-waba` / `add-number`, a real HTTPS
receiver: a send with `simulation: false` reaches the stand-in, its statuses come back, and the
customer gets signed DELIVERY and READ webhooks while polling says READ; a refusal is a
DELIVERY 6 with the provider's reason; a user's reply is the account's INBOUND. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import pytest

from tests.support.api_client import AccountKey
from tests.support.assertions import ISO_Z
from tests.support.cli import ServerProcess, create_account_with_cli, run_cli, server_env
from tests.support.contract import DELIVERY_KEYS, INBOUND_KEYS, READ_KEYS
from tests.support.net import free_port
from tests.support.rbm_standin import RbmStandin, require_rbm_standin, write_service_account_key
from tests.support.receiver import ReceivedRequest, Receiver
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls
from tests.support.whatsapp_standin import WhatsAppStandIn, require_whatsapp_standin

pytestmark = pytest.mark.e2e

GW = "/api/partner-gateway/v1"
BUSINESS = "+15550783881"
META_ID = "106540352242922"
USER = "+4915112345"  # + two digits: the stand-in's behaviour (00 accepted, 01 refused)


class _Process(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Process)


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path / "tls")


@contextmanager
def serve_beside(
    make_standin: Callable[[str], S], env_for: Callable[[S], dict[str, str]], log_dir: Path
) -> Iterator[tuple[ServerProcess, S]]:
    """A stand-in posting to `dlrhub serve`, and serve sending to it: each must know the
    other's port, so serve's is chosen first (and chosen again if another process took it
    before serve could bind it)."""
    for attempt in range(3):
        port = free_port()
        standin = make_standin(f"http://127.0.0.1:{port}")
        standin.start()
        server = ServerProcess(env_for(standin), log_dir, port=port)
        try:
            server.start()
        except RuntimeError:
            standin.stop()
            if attempt == 2 or "address already in use" not in server.log_text().lower():
                raise
            continue
        try:
            yield server, standin
        finally:
            server.stop()
            standin.stop()
        return


def client(base_url: str, key: AccountKey) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=key.headers, trust_env=False, timeout=10)


def register(http: httpx.Client, url: str) -> str:
    """The delivery-status webhook; returns the account's signing secret."""
    response = http.post(f"{GW}/webhooks/delivery-status", json={"callbackUrl": url})
    assert response.status_code == 201, response.text
    return str(http.get(f"{GW}/account/signing-secret").json()["secret"])


def send_real(http: httpx.Client, channel: str, customer_id: str, **fields: str) -> str:
    response = http.post(
        f"/api/message-server/{channel}/send",
        json={"body": "Hello for real", "messageId": customer_id, "simulation": False, **fields},
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "SENT"
    return str(response.json()["messageId"])


def poll(http: httpx.Client, customer_id: str) -> dict[str, Any]:
    response = http.get(f"{GW}/messages/status/{customer_id}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def signed_payloads(requests: list[ReceivedRequest], secret: str) -> list[dict[str, Any]]:
    """Every webhook checked as signed (Standard Webhooks), its payload."""
    found = []
    for request in requests:
        verify(secret, request.headers, request.body)
        found.append(request.json())
    return found


def check_outcomes(
    http: httpx.Client, payloads: list[dict[str, Any]], sent: dict[str, str], channel: str
) -> list[dict[str, Any]]:
    """DELIVERY 3 and READ for `ok`, DELIVERY 6 for `refused`, each once, as polling says;
    the payloads left over (the INBOUND)."""
    by_kind = {(p["eventType"], p.get("messageId")): p for p in payloads}
    delivered = by_kind[("DELIVERY", sent["ok"])]
    read = by_kind[("READ", sent["ok"])]
    refused = by_kind[("DELIVERY", sent["refused"])]
    assert set(delivered) == set(refused) == DELIVERY_KEYS
    assert set(read) == READ_KEYS
    assert (delivered["status"], delivered["statusCode"], delivered["channel"]) == (
        "DELIVERED",
        3,
        channel,
    )
    assert (refused["status"], refused["statusCode"]) == ("ERROR", 6)
    assert ISO_Z.match(delivered["timestamp"])
    assert ISO_Z.match(read["timestamp"])
    view = poll(http, "ok")
    assert (view["status"], view["error"]) == ("READ", None)
    assert ISO_Z.match(view["deliveredAt"])
    assert ISO_Z.match(view["readAt"])
    assert poll(http, "refused")["error"] == refused["error"]
    return [p for p in payloads if p not in (delivered, read, refused)]


def test_real_whatsapp_through_the_cli(db_url: str, tmp_path: Path, tls: TestTLS) -> None:
    require_whatsapp_standin()

    def env_for(standin: WhatsAppStandIn) -> dict[str, str]:
        return server_env(
            db_url,
            tls.ca_pem_path,
            DLRHUB_WHATSAPP_API_URL=standin.api_url,
            DLRHUB_WHATSAPP_TOKEN=standin.token,
            DLRHUB_WHATSAPP_APP_SECRET=standin.app_secret,
            DLRHUB_WHATSAPP_VERIFY_TOKEN="e2e-verify",
        )

    def make(base: str) -> WhatsAppStandIn:
        return WhatsAppStandIn(f"{base}/carrier/v1/whatsapp", status_delay_ms=10)

    with (
        Receiver(tls=tls) as receiver,
        serve_beside(make, env_for, tmp_path / "logs") as (server, standin),
    ):
        env = env_for(standin)
        key = create_account_with_cli(env, "whatsapp-e2e")
        added = run_cli(
            *("accounts", "add-waba", key.account_id, BUSINESS),
            *("--meta-phone-number-id", META_ID),
            env=env,
        )
        assert added.returncode == 0, (added.stdout, added.stderr)
        with client(server.base_url, key) as http:
            secret = register(http, receiver.url_for("/hook"))
            sent = {
                name: send_real(
                    http, "whatsapp", name, destination=USER + suffix, phoneNumberId=BUSINESS
                )
                for name, suffix in (("ok", "00"), ("refused", "01"))
            }
            inbound = asyncio.run(
                standin.control(
                    "inbound", {"from": "4915112345678", "phone_number_id": META_ID, "text": "hi"}
                )
            )
            assert inbound["http_status"] == 200, inbound
            payloads = signed_payloads(receiver.wait_for(4, timeout=20), secret)
            [reply] = check_outcomes(http, payloads, sent, "WHATSAPP")
            assert "131026" in poll(http, "refused")["error"]
        assert set(reply) == INBOUND_KEYS
        assert (reply["source"], reply["destination"], reply["text"]) == (
            "+4915112345678",
            BUSINESS,
            "hi",
        )
        [accepted] = [e for e in standin.events("send") if e["http_status"] == 200]
        assert (accepted["phone_number_id"], accepted["to"]) == (META_ID, "491511234500")
        assert server.stop() == 0, server.log_text()
    assert len(receiver.requests) == 4
    assert "Traceback" not in server.log_text(), server.log_text()


def test_real_rcs_through_the_cli(db_url: str, tmp_path: Path, tls: TestTLS) -> None:
    require_rbm_standin()
    key_file = write_service_account_key(tmp_path / "rbm-key.json")
    agent_number = "+15550783990"

    def env_for(standin: RbmStandin) -> dict[str, str]:
        return server_env(
            db_url,
            tls.ca_pem_path,
            DLRHUB_RBM_API_URL=standin.api_url,
            DLRHUB_RBM_AGENT_ID=standin.agent_id,
            DLRHUB_RBM_CREDENTIALS=str(key_file),
            DLRHUB_RBM_CLIENT_TOKEN=standin.client_token,
        )

    def make(base: str) -> RbmStandin:
        return RbmStandin(key_file, notify_url=f"{base}/carrier/v1/rbm", event_delay_ms=10)

    with (
        Receiver(tls=tls) as receiver,
        serve_beside(make, env_for, tmp_path / "logs") as (server, standin),
    ):
        env = env_for(standin)
        key = create_account_with_cli(env, "rcs-e2e")
        added = run_cli(
            "accounts", "add-number", key.account_id, agent_number, "--channel", "RCS", env=env
        )
        assert added.returncode == 0, (added.stdout, added.stderr)
        with client(server.base_url, key) as http:
            secret = register(http, receiver.url_for("/hook"))
            sent = {
                name: send_real(http, "rcs", name, destination=USER + suffix)
                for name, suffix in (("ok", "00"), ("refused", "01"))
            }
            answer = standin.control("user_message", {"from": "+4915112345678", "text": "hi"})
            assert answer["http_status"] == 200, answer
            payloads = signed_payloads(receiver.wait_for(4, timeout=20), secret)
            [reply] = check_outcomes(http, payloads, sent, "RCS")
            assert "NOT_FOUND" in poll(http, "refused")["error"]
        assert set(reply) == INBOUND_KEYS
        assert (reply["source"], reply["destination"], reply["channel"]) == (
            "+4915112345678",
            agent_number,
            "RCS",
        )
        accepted = [e for e in standin.events("send") if e["http_status"] == 200]
        assert [(e["phone"], e["message_id"]) for e in accepted] == [(USER + "00", sent["ok"])]
        assert server.stop() == 0, server.log_text()
    assert len(receiver.requests) == 4
    assert "Traceback" not in server.log_text(), server.log_text()
