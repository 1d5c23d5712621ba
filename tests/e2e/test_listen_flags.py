"""`dlrhub listen` shows each event's `sequence` and calls out what a receiver must handle
(issue 13 item 1, docs/ordering.md): a `webhook-id` seen before (`!! DUPLICATE`) and a
message's event after one with a higher sequence (`!! OUT OF ORDER (SEQUENCE 1 AFTER 2)`).

The real command in a subprocess with `--secret`, fed hand-made signed events over HTTP; each
request's header line is checked exactly, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dlrhub.domain.signing import new_secret, sign
from tests.support.cli import CLI_BASE, cli_env
from tests.support.net import free_port

pytestmark = pytest.mark.e2e

SECRET = new_secret(os.urandom(24))
_START_TIMEOUT_S = 20.0


def _output(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""


@contextmanager
def listening(log_dir: Path) -> Iterator[tuple[int, Path]]:
    """`dlrhub listen --port PORT --secret …` on a port free a moment ago (`listen` has no way
    to pick one itself and say which); tried again if another process took it first."""
    for attempt in range(3):
        port = free_port()
        log = log_dir / f"listen-{attempt}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*CLI_BASE, "listen", "--port", str(port), "--secret", SECRET],
                env=cli_env({}),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while "listening on" not in _output(log):
                if process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if "listening on" in _output(log):
                yield port, log
                return
            if attempt == 2 or "address already in use" not in _output(log).lower():
                raise AssertionError(f"dlrhub listen did not start:\n{_output(log)}")
        finally:
            process.terminate()
            process.wait(timeout=10)


def _post(port: int, webhook_id: str, payload: dict[str, Any]) -> None:
    """One event signed as dlrhub signs it (Standard Webhooks); `listen` prints it before it
    answers, so its line is in the output once this returns."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hook",
        data=body,
        headers={
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign([SECRET], webhook_id, timestamp, body),
        },
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        assert response.status == 200


def _event(kind: str, message_id: str, sequence: int) -> dict[str, Any]:
    return {
        "eventType": kind,
        "messageId": message_id,
        "customerMessageId": f"c-{message_id}",
        "channel": "WHATSAPP",
        "timestamp": "2025-01-01T00:00:00.000Z",
        "sequence": sequence,
    }


def test_listen_shows_sequence_and_flags_duplicates_and_reordering(tmp_path: Path) -> None:
    inbound = {"eventType": "INBOUND", "source": "+393401234567", "text": "hi"}
    arrivals: list[tuple[str, dict[str, Any], str]] = [
        # message a, in order: nothing to flag
        ("wh-1", _event("DELIVERY", "a", 1), "  sequence=1  signature valid"),
        ("wh-2", _event("READ", "a", 2), "  sequence=2  signature valid"),
        # its READ again (a retry the receiver already had)
        ("wh-2", _event("READ", "a", 2), "  sequence=2  signature valid  !! DUPLICATE"),
        # message b: its READ, then its DELIVERY
        ("wh-3", _event("READ", "b", 2), "  sequence=2  signature valid"),
        (
            "wh-4",
            _event("DELIVERY", "b", 1),
            "  sequence=1  signature valid  !! OUT OF ORDER (SEQUENCE 1 AFTER 2)",
        ),
        # an event of no message has no sequence, and nothing to be out of order with
        ("wh-5", inbound, "  signature valid"),
    ]
    with listening(tmp_path) as (port, log):
        for webhook_id, payload, _shown in arrivals:
            _post(port, webhook_id, payload)
        output = _output(log)
    lines = [line for line in output.splitlines() if line.startswith("POST ")]
    assert lines == [
        f"POST /hook  webhook-id={webhook_id}{shown}" for webhook_id, _payload, shown in arrivals
    ], output
    # Each header line is followed by the body as it arrived.
    for _webhook_id, payload, _shown in arrivals:
        assert "  " + json.dumps(payload, separators=(",", ":")) in output
