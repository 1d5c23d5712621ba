"""Revoking a key through real processes (SPEC §14, issue 8 finding 5).

On PostgreSQL: two `dlrhub api` processes and a `dlrhub worker`; a key revoked through one API
process (or through the CLI) is refused by the others within 5 s. On SQLite: `serve --dev`
started twice on one file, the demo key printed by the first start is refused after the second.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.support.cli import ServerProcess, create_account_with_cli, run_cli

pytestmark = pytest.mark.e2e

KEYS = "/api/partner-gateway/v1/account/api-keys"
SECRET = "/api/partner-gateway/v1/account/signing-secret"
PROMISE_S = 5.0
DEMO_KEY = re.compile(r"demo API key: (dlr_\S+)")


def _status(server: ServerProcess, api_key: str) -> int:
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
        return client.get(SECRET, headers={"X-Api-Key": api_key}).status_code


def _refused_within(server: ServerProcess, api_key: str, since: float) -> float:
    """Seconds from `since` until `server` answers 401 for `api_key`; fails past the promise."""
    while True:
        code = _status(server, api_key)
        elapsed = time.monotonic() - since
        if code == 401:
            return elapsed
        assert code == 200, code
        assert elapsed < PROMISE_S, f"{server.base_url} still accepts the key after {elapsed:.1f} s"
        time.sleep(0.1)


@pytest.fixture
def processes(postgres_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ...]]:
    """API process A, API process B and a worker, on one PostgreSQL database."""
    env = {"DLRHUB_DATABASE_URL": postgres_url, "DLRHUB_LOG_LEVEL": "warning"}
    logs = tmp_path / "logs"
    with ExitStack() as stack:
        started = tuple(
            stack.enter_context(ServerProcess(env, logs, args=args, log_name=f"{name}.log"))
            for name, args in (("api-a", ("api",)), ("api-b", ("api",)), ("worker", ("worker",)))
        )
        yield started
        for process in started:
            assert process.stop() == 0, process.log_text()
            assert "Traceback" not in process.log_text(), process.log_text()


@pytest.mark.postgres
def test_revoked_through_one_api_process_refused_by_another(
    processes: tuple[ServerProcess, ...],
) -> None:
    a, b, worker = processes
    env = a.env
    owner = create_account_with_cli(env, "revoker")
    with httpx.Client(base_url=a.base_url, headers=owner.headers, trust_env=False) as client:
        created = client.post(KEYS, json={"name": "to revoke"})
        assert created.status_code == 201, created.text
        doomed = created.json()
        assert _status(b, doomed["apiKey"]) == 200  # B knows the key A made
        revoked = client.delete(f"{KEYS}/{doomed['id']}")
        assert revoked.status_code == 204
    since = time.monotonic()
    assert _status(a, doomed["apiKey"]) == 401
    assert _refused_within(b, doomed["apiKey"], since) < PROMISE_S
    assert _status(b, owner.api_key) == 200  # only that key
    assert worker.is_running()


@pytest.mark.postgres
def test_revoked_through_the_cli_refused_by_running_api_processes(
    processes: tuple[ServerProcess, ...],
) -> None:
    a, b, _ = processes
    env = a.env
    owner = create_account_with_cli(env, "cli-revoker")
    made = run_cli("accounts", "keys", "create", "cli-revoker", "--name", "ops", "--json", env=env)
    assert made.returncode == 0, made.stderr
    doomed = json.loads(made.stdout)
    assert doomed["name"] == "ops"
    assert _status(a, doomed["apiKey"]) == 200
    assert _status(b, doomed["apiKey"]) == 200

    listed = run_cli("accounts", "keys", "list", owner.account_id, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    items = {item["id"]: item for item in json.loads(listed.stdout)["items"]}
    assert items[doomed["id"]]["lastUsedAt"] is not None  # used just above, through the API
    assert doomed["apiKey"] not in listed.stdout

    done = run_cli("accounts", "keys", "revoke", "cli-revoker", doomed["id"], env=env)
    assert done.returncode == 0, done.stderr
    assert doomed["id"] in done.stdout
    since = time.monotonic()
    assert _refused_within(a, doomed["apiKey"], since) < PROMISE_S
    assert _refused_within(b, doomed["apiKey"], since) < PROMISE_S
    assert _status(a, owner.api_key) == 200

    # Another account's key, or an unknown one: a message and exit 1, nothing revoked.
    other = create_account_with_cli(env, "bystander")
    with httpx.Client(base_url=a.base_url, headers=other.headers, trust_env=False) as client:
        (theirs,) = client.get(KEYS).json()["items"]
    refused = run_cli("accounts", "keys", "revoke", "cli-revoker", theirs["id"], env=env)
    assert refused.returncode == 1
    assert "no API key" in refused.stderr
    assert _status(b, other.api_key) == 200


def _demo_key(server: ServerProcess) -> str:
    found = DEMO_KEY.findall(server.log_text())
    assert found, server.log_text()
    return str(found[-1])


def test_serve_dev_revokes_the_demo_key_it_printed_before(tmp_path: Path) -> None:
    env = {
        "DLRHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}",
        "DLRHUB_LOG_LEVEL": "warning",
    }
    keys: list[str] = []
    for start in range(3):
        server = ServerProcess(env, tmp_path / "logs", log_name=f"serve-{start}.log")
        with server:
            keys.append(_demo_key(server))
            assert _status(server, keys[-1]) == 200
            for earlier in keys[:-1]:
                assert _status(server, earlier) == 401
        assert server.returncode == 0, server.log_text()
    assert len(set(keys)) == 3
    listed = run_cli("accounts", "keys", "list", "demo", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert [item["name"] for item in items] == ["demo (serve --dev)"] * 3
    assert [item["revokedAt"] is None for item in items] == [False, False, True]
