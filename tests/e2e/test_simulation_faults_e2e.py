"""Simulation faults and a receipt timeout reaching a real webhook through `dlrhub serve --dev`
(issue 13 items 2 and 3; docs/simulation.md, docs/receipt-timeouts.md): a duplicate receipt,
READ before DELIVERED, ENROUTE first, and a lost receipt that times out, each seen by the
receiver exactly as the contract says, with the history of every report. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import ServerProcess, create_account_with_cli, server_env
from tests.support.receiver import Receiver
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls

pytestmark = pytest.mark.e2e

GW = "/api/partner-gateway/v1"
SENDS = {
    "dup": ("sms", {"outcome": "DELIVERED", "faults": ["duplicate"]}),
    "reorder": ("rcs", {"outcome": "READ", "faults": ["reorder"]}),
    "enroute": ("sms", {"outcome": "ERROR", "faults": ["intermediate"]}),
    "lost": ("sms", {"faults": ["lost"]}),
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls-faults"))


def _history(client: httpx.Client, customer_id: str) -> list[tuple[Any, Any]]:
    response = client.get(f"{GW}/messages/status/{customer_id}/reports")
    assert response.status_code == 200, response.text
    return [(r["status"], r["outcome"]) for r in response.json()["reports"]]


def test_faults_and_a_timeout_reach_the_webhook(db_url: str, tmp_path: Path, tls: TestTLS) -> None:
    env = server_env(
        db_url,
        tls.ca_pem_path,
        DLRHUB_SIMULATOR_DELAY_MS="300",
        DLRHUB_RECEIPT_TIMEOUT_S="2",
    )
    with Receiver(tls=tls) as rx, ServerProcess(env, tmp_path / "logs") as server:
        key = create_account_with_cli(env, "faults-e2e")
        with httpx.Client(
            base_url=server.base_url, headers=key.headers, trust_env=False, timeout=10
        ) as client:
            hook = client.post(
                f"{GW}/webhooks/delivery-status", json={"callbackUrl": rx.url_for("/hook")}
            )
            assert hook.status_code == 201, hook.text
            secret = str(client.get(f"{GW}/account/signing-secret").json()["secret"])
            for customer_id, (channel, simulation) in SENDS.items():
                sent = client.post(
                    f"/api/message-server/{channel}/send",
                    json={
                        "destination": "+393401234567",
                        "body": "faults",
                        "messageId": customer_id,
                        "simulation": simulation,
                    },
                )
                assert sent.status_code == 201, sent.text
            # dup 1, reorder 2, enroute 1, lost 1 (after the 2 s timeout).
            arrived = rx.wait_for(5, timeout=30)
            seen: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
            for request in arrived:
                verify(secret, request.headers, request.body)
                payload = request.json()
                seen[payload["customerMessageId"]].append(
                    (payload["eventType"], payload.get("statusCode"))
                )
            assert seen["dup"] == [("DELIVERY", 3)]
            assert seen["reorder"] == [("DELIVERY", 3), ("READ", None)]
            assert seen["enroute"] == [("DELIVERY", 6)]
            assert seen["lost"] == [("DELIVERY", 8)]
            lost = client.get(f"{GW}/messages/status/lost").json()
            assert lost["error"] == "no delivery receipt from the carrier within 2 seconds"
            # Nothing else comes: the duplicate and the late DELIVERED changed nothing.
            assert len(rx.wait_for(5, timeout=2)) == 5
            assert len(rx.requests) == 5
            assert _history(client, "dup") == [("DELIVERED", "applied"), ("DELIVERED", "ignored")]
            assert _history(client, "reorder") == [
                ("DELIVERED", "applied"),
                ("READ", "applied"),
                ("DELIVERED", "ignored"),
            ]
            assert _history(client, "enroute") == [(None, "ignored"), ("ERROR", "applied")]
            assert _history(client, "lost") == [("EXPIRED", "applied")]
            metrics = client.get("/metrics").text
            assert 'dlrhub_carrier_reports_total{outcome="ignored"}' in metrics
        assert server.stop() == 0, server.log_text()
