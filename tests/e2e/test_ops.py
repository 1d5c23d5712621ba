"""Operations (issue 3): /metrics on the API and on a worker, `dlrhub status`."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import httpx
import pytest

from dlrhub.domain.status import Channel
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.cli import ServerProcess, run_cli


async def test_api_metrics_expose_queue_depth_and_delivery_series(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    await hub.delivery_status.create(account.account_id, "https://127.0.0.1:9/hook")
    await hub.messaging.receive_inbound(
        account.account_id,
        source="+393401234567",
        destination="+393409876543",
        channel=Channel.SMS,
        text="hi",
    )
    response = await api.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'dlrhub_queue_depth{state="pending"} 1.0' in text
    assert 'dlrhub_queue_depth{state="due"} 1.0' in text
    for series in (
        "dlrhub_delivery_attempts_total",
        "dlrhub_delivery_attempt_seconds_bucket",
        "dlrhub_deliveries_in_flight",
        "dlrhub_open_circuits",
    ):
        assert series in text


@pytest.mark.e2e
def test_status_command_and_worker_metrics(db_url: str, tmp_path: Path) -> None:
    env = {"DLRHUB_DATABASE_URL": db_url, "DLRHUB_LOG_LEVEL": "warning"}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    status = run_cli("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "queue": {"pending": 0, "failed": 0, "due": 0},
        "failingWebhooks": [],
    }
    human = run_cli("status", env=env)
    assert "0 pending" in human.stdout
    assert "no failing webhooks" in human.stdout
    worker = ServerProcess(env, tmp_path, args=("worker",), log_name="worker.log").start()
    try:
        with urllib.request.urlopen(f"{worker.base_url}/metrics", timeout=10) as response:
            body = response.read().decode()
        assert 'dlrhub_queue_depth{state="pending"} 0.0' in body
    finally:
        assert worker.stop() == 0, worker.log_text()
