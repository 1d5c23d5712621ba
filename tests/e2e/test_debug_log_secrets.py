"""Issue 8, finding 8: a debug-level log must not carry secrets.

The SQL drivers log statements with their parameters at debug level (SQLAlchemy's engine
logger, aiosqlite's worker thread), and those parameters include signing secrets and API key
hashes. The test runs a real server at debug level through a whole send → webhook attempt, so
every query that touches a secret runs, then greps the log.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.support.cli import ServerProcess, run_cli
from tests.support.net import free_port

API = "/api/partner-gateway/v1"


def _wait_for_attempt(client: httpx.Client, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        page = client.get(f"{API}/deliveries").json()
        if any(item.get("attempts") for item in page["items"]):
            return
        time.sleep(0.2)
    raise AssertionError("no delivery attempt was made")


@pytest.mark.e2e
def test_debug_log_holds_no_signing_secret_or_key_hash(db_url: str, tmp_path: Path) -> None:
    env = {"DLRHUB_DATABASE_URL": db_url, "DLRHUB_LOG_LEVEL": "debug"}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    created = run_cli("accounts", "create", "acme", "--json", env=env)
    assert created.returncode == 0, created.stderr
    api_key = json.loads(created.stdout)["apiKey"]
    with ServerProcess(env, tmp_path, args=("serve", "--dev")) as server:
        headers = {"X-Api-Key": api_key}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
            secret = client.get(f"{API}/account/signing-secret").json()["secret"]
            # A closed port: the attempt fails, but only after the secrets were read to sign it.
            callback = f"http://127.0.0.1:{free_port()}/hook"
            created_hook = client.post(
                f"{API}/webhooks/delivery-status", json={"callbackUrl": callback}
            )
            assert created_hook.status_code == 201, created_hook.text
            sent = client.post(
                "/api/message-server/sms/send",
                json={"destination": "+393401234567", "body": "hi", "simulation": True},
            )
            assert sent.status_code == 201, sent.text
            _wait_for_attempt(client)
        log = server.log_text()
    assert "logging configured" in log, "the server did not log at debug level"
    assert secret not in log
    assert secret.removeprefix("whsec_") not in log
    assert api_key not in log
    assert hashlib.sha256(api_key.encode()).hexdigest() not in log
