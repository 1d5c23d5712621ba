"""Warn before disabling through the real CLI (issue 13 item 4, docs/alerts.md): `dlrhub serve`
delivering to a customer's webhook that fails, and to the account's alerts URL (an HTTPS
receiver checking every signature with an independent implementation). The alerts say
failing, then disabled; re-enabled and answering again, recovered. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import ServerProcess, create_account_with_cli, server_env
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls

pytestmark = pytest.mark.e2e

GW = "/api/partner-gateway/v1"
WARN_AFTER_S = 2
DISABLE_AFTER_S = 6


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls-alerts"))


def _alert(request: ReceivedRequest, secret: str) -> dict[str, Any]:
    assert request.header("content-type") == "application/json"
    verify(secret, request.headers, request.body)
    payload: dict[str, Any] = request.json()
    return payload


def _is_alert(kind: str) -> Any:
    return lambda request: request.json().get("eventType") == kind


def test_failing_disabled_recovered_reach_the_alerts_url_signed(
    db_url: str, tmp_path: Path, tls: TestTLS
) -> None:
    env = server_env(
        db_url,
        tls.ca_pem_path,
        DLRHUB_RETRY_SCHEDULE=",".join(["0.5"] * 60),
        DLRHUB_CIRCUIT_THRESHOLD="1000",
        DLRHUB_WARN_AFTER_S=str(WARN_AFTER_S),
        DLRHUB_DISABLE_AFTER_S=str(DISABLE_AFTER_S),
    )
    with (
        Receiver(tls=tls, default_reply=Reply(503, body=b"maintenance")) as customer,
        Receiver(tls=tls) as alerts,
        ServerProcess(env, tmp_path / "logs") as server,
    ):
        key = create_account_with_cli(env, "alerts-e2e")
        with httpx.Client(
            base_url=server.base_url, headers=key.headers, trust_env=False, timeout=10
        ) as client:
            hook = customer.url_for("/dlr")
            created = client.post(f"{GW}/webhooks/delivery-status", json={"callbackUrl": hook})
            assert created.status_code == 201, created.text
            put = client.put(f"{GW}/account/alerts", json={"url": alerts.url_for("/ops")})
            assert put.status_code == 201, put.text
            secret = str(client.get(f"{GW}/account/signing-secret").json()["secret"])
            sent = client.post(
                "/api/message-server/sms/send",
                json={"destination": "+393401234567", "body": "hi", "simulation": True},
            )
            assert sent.status_code == 201, sent.text

            [failing] = alerts.wait_for(1, timeout=30, predicate=_is_alert("webhook.failing"))
            [disabled] = alerts.wait_for(1, timeout=30, predicate=_is_alert("webhook.disabled"))
            first, second = _alert(failing, secret), _alert(disabled, secret)
            assert first["webhookId"] == second["webhookId"] == "delivery-status"
            assert first["url"] == second["url"] == hook
            assert first["lastError"] == "HTTP 503"
            assert first["failingSince"] == second["failingSince"]
            assert first["disablesAt"] is not None
            assert first["disabledAt"] is None
            assert second["disabledAt"] is not None
            assert second["disablesAt"] is None
            # Nothing but alerts reaches the alerts URL; every customer attempt failed.
            assert {r.json()["eventType"] for r in alerts.requests} <= {
                "webhook.failing",
                "webhook.disabled",
            }
            assert {r.path for r in customer.requests} == {"/dlr"}

            customer.default_reply = Reply(200)
            enabled = client.post(f"{GW}/webhooks/delivery-status/enable")
            assert enabled.status_code == 204, enabled.text
            [recovered] = alerts.wait_for(1, timeout=30, predicate=_is_alert("webhook.recovered"))
            third = _alert(recovered, secret)
            assert third["webhookId"] == "delivery-status"
            assert third["lastError"] is None

    kinds = [r.json()["eventType"] for r in alerts.requests]
    # Once per streak: retries went on all along, yet one of each.
    assert sorted(set(kinds)) == sorted(kinds), kinds
    ids = [r.header("webhook-id") for r in alerts.requests]
    assert len(set(ids)) == 3
