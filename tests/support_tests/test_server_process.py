"""The harness that runs `dlrhub serve` in a subprocess: it learns the port from the process
itself (`--port 0`), so another process answering /healthz is never taken for the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cli import ServerProcess
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.e2e


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "DLRHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "DLRHUB_LOG_LEVEL": "warning",
    }


@pytest.fixture
def decoy() -> Iterator[Receiver]:
    """Another process's HTTP server, healthy on every path."""
    with Receiver(None, default_reply=Reply(200, b'{"status": "ok"}')) as running:
        yield running


def test_the_server_is_reached_on_the_port_it_bound(tmp_path: Path, decoy: Receiver) -> None:
    with ServerProcess(_env(tmp_path), tmp_path / "logs") as server:
        assert server.port not in (0, decoy.port)
        assert f"listening on http://127.0.0.1:{server.port}" in server.log_text()
        docs = httpx.get(f"{server.base_url}/openapi.json", trust_env=False, timeout=10)
        assert docs.status_code == 200
        assert "/api/partner-gateway/v1/webhooks" in docs.text
    assert decoy.requests == []


def test_a_decoy_on_the_requested_port_is_not_taken_for_the_server(
    tmp_path: Path, decoy: Receiver
) -> None:
    """The server cannot bind a port the decoy holds and exits: start() must say so, not
    return because the decoy answered /healthz."""
    server = ServerProcess(_env(tmp_path), tmp_path / "logs", port=decoy.port)
    with pytest.raises(RuntimeError, match="exited with"):
        server.start(timeout=60)
    assert decoy.requests == []
