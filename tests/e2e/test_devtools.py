"""`dlrhub send` and `dlrhub listen` against a real `dlrhub serve --dev`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.cli import ServerProcess, cli_env, run_cli
from tests.support.net import free_port

pytestmark = pytest.mark.e2e


def _wait_for(path: Path, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in:\n{content}")


def test_send_and_listen(db_url: str, tmp_path: Path) -> None:
    env = {"DLRHUB_DATABASE_URL": db_url, "DLRHUB_SIMULATOR_DELAY_MS": "0"}
    with ServerProcess(env, tmp_path, log_name="serve.log") as server:
        created = json.loads(run_cli("accounts", "create", "dev", "--json", env=env).stdout)
        key = created["apiKey"]
        request = urllib.request.Request(
            f"{server.base_url}/api/partner-gateway/v1/account/signing-secret",
            headers={"X-Api-Key": key},
        )
        with urllib.request.urlopen(request) as response:
            secret = json.loads(response.read())["secret"]
        port = free_port()
        log = tmp_path / "listen.log"
        with open(log, "w") as out:
            listener = subprocess.Popen(
                [sys.executable, "-m", "dlrhub", "listen", "--port", str(port)],
                env=cli_env({**env, "DLRHUB_SIGNING_SECRET": secret}),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for(log, "listening on")
            register = urllib.request.Request(
                f"{server.base_url}/api/partner-gateway/v1/webhooks/delivery-status",
                data=json.dumps({"callbackUrl": f"http://127.0.0.1:{port}/hook"}).encode(),
                headers={"X-Api-Key": key, "Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(register).close()
            sent = run_cli(
                "send", "--to", "+393401234567", "--message-id", "cli-1",
                "--api-key", key, "--url", server.base_url, env=env,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
            assert json.loads(sent.stdout)["customerMessageId"] == "cli-1"
            output = _wait_for(log, '"eventType":"DELIVERY"')
            assert "signature valid" in output
            # A forged request is called out.
            forged = urllib.request.Request(
                f"http://127.0.0.1:{port}/hook",
                data=b"{}",
                headers={
                    "webhook-id": "x",
                    "webhook-timestamp": "1",
                    "webhook-signature": "v1,AAAA",
                },
                method="POST",
            )
            urllib.request.urlopen(forged).close()
            _wait_for(log, "signature INVALID")
            refused = run_cli(
                "send", "--to", "not-a-number", "--api-key", key, "--url", server.base_url,
                env=env,
            )  # fmt: skip
            assert refused.returncode == 1
            assert json.loads(refused.stdout)["status"] == 400
        finally:
            listener.terminate()
            listener.wait(timeout=10)
