"""The Google RBM stand-in (tests/standins/rbm.py) as a subprocess: a service-account key for it,
its port and URLs, its events (JSON lines on stdout), its controls, stopping and restarting it.

    key = write_service_account_key(tmp_path / "rbm-key.json")
    with RbmStandin(key, notify_url=f"{base}/carrier/v1/rbm") as rbm:
        ...  # DLRHUB_RBM_API_URL=rbm.api_url, DLRHUB_RBM_CREDENTIALS=key, DLRHUB_RBM_AGENT_ID=...
        await rbm.wait_for(lambda e: e["event"] == "notify" and e["kind"] == "READ")

Starting it points the key file's `token_uri` at the stand-in's `/token`, so google-auth asks it
for access tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import httpx

from tests.support.databases import unavailable

__all__ = [
    "CLIENT_EMAIL",
    "Event",
    "RbmStandin",
    "require_rbm_standin",
    "set_token_uri",
    "write_service_account_key",
]

REPO = Path(__file__).resolve().parents[2]
CLIENT_EMAIL = "dlrhub-rbm@dlrhub-test.iam.gserviceaccount.com"
Event = dict[str, Any]
_START_TIMEOUT_S = 15.0


def require_rbm_standin() -> None:
    """Check what the stand-in and google-auth need; skips locally, fails in CI
    (DLRHUB_TEST_REQUIRE_SERVICES=1) when something is missing."""
    for module in ("cryptography", "google.auth", "requests"):
        try:
            importlib.import_module(module)
        except ImportError:
            unavailable(f"{module} is not installed: pip install google-auth requests")


def write_service_account_key(
    path: Path,
    *,
    token_uri: str = "http://127.0.0.1:9/token",
    client_email: str = CLIENT_EMAIL,
) -> Path:
    """A service-account key file as Google's console downloads it, with a fresh RSA key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "dlrhub-test",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": client_email,
        "client_id": "109876543210987654321",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    path.write_text(json.dumps(info, indent=2))
    return path


def set_token_uri(path: Path, token_uri: str) -> None:
    """Point an existing key file at another token endpoint (the key stays)."""
    info = json.loads(path.read_text())
    info["token_uri"] = token_uri
    path.write_text(json.dumps(info, indent=2))


class RbmStandin:
    """One `python -m tests.standins.rbm` process (see its docstring for what it does)."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    def __init__(
        self,
        key_file: Path,
        *,
        notify_url: str,
        agent_id: str = "dlrhub-test-agent",
        client_token: str = "test-client-token",
        ca_file: Path | None = None,
        event_delay_ms: float = 20,
    ) -> None:
        self.key_file = key_file
        self.notify_url = notify_url
        self.agent_id = agent_id
        self.client_token = client_token
        self.ca_file = ca_file
        self.event_delay_ms = event_delay_ms
        self.port = 0
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._stderr: list[str] = []
        self._proc: subprocess.Popen[str] | None = None

    # -- URLs ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What DLRHUB_RBM_API_URL is set to: `{api_url}/phones/{E.164}/agentMessages`."""
        return f"{self.base_url}/v1"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    # -- the process ---------------------------------------------------------------------

    def start(self) -> RbmStandin:
        """Start (on the port it had before, if any), wait until it listens, and point the key
        file's token_uri at it."""
        assert self._proc is None, "already running"
        command = [
            sys.executable,
            "-m",
            "tests.standins.rbm",
            *("--port", str(self.port), "--agent-id", self.agent_id),
            *("--client-token", self.client_token, "--notify-url", self.notify_url),
            *("--key-file", str(self.key_file), "--event-delay-ms", str(self.event_delay_ms)),
            *(("--ca-file", str(self.ca_file)) if self.ca_file else ()),
            "--exit-on-stdin-eof",
        ]
        self._proc = subprocess.Popen(
            command,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        generation = len(self.events("listening"))
        threading.Thread(target=self._read, args=(self._proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self._proc.stderr, False), daemon=True).start()
        listening = self.wait_for_blocking(
            lambda e: e["event"] == "listening", timeout=_START_TIMEOUT_S, skip=generation
        )
        self.port = int(listening["port"])
        set_token_uri(self.key_file, self.token_uri)
        return self

    def stop(self) -> None:
        """End it: closing its stdin ends it; SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=10)
        self._close_pipes(proc)

    def kill(self) -> None:
        """SIGKILL, as when Google's API is unreachable (connections refused from now on)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
            self._close_pipes(proc)

    def restart(self) -> None:
        """Kill, then start again on the same port (issued tokens and accepted ids are lost)."""
        self.kill()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> RbmStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def _close_pipes(proc: subprocess.Popen[str]) -> None:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _read(self, pipe: Any, events: bool) -> None:
        try:
            for line in pipe:
                with self._lock:
                    if not events:
                        self._stderr.append(line)
                        continue
                    try:
                        self._events.append(json.loads(line))
                    except json.JSONDecodeError:
                        self._events.append({"event": "unreadable", "line": line})
        except (OSError, ValueError):  # the pipe was closed by kill()
            return

    # -- control -------------------------------------------------------------------------

    def control(self, name: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST /_control/{name}; the answer (for those that post: how the notify URL answered)."""
        response = httpx.post(f"{self.base_url}/_control/{name}", json=dict(body or {}), timeout=30)
        assert response.status_code == 200, f"control {name}: {response.text}"
        answer: dict[str, Any] = response.json()
        return answer

    async def acontrol(self, name: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """As `control`, without blocking the event loop."""
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{self.base_url}/_control/{name}", json=dict(body or {}))
        assert response.status_code == 200, f"control {name}: {response.text}"
        answer: dict[str, Any] = response.json()
        return answer

    # -- events --------------------------------------------------------------------------

    def events(self, kind: str | None = None) -> list[Event]:
        """Every event so far (of one kind), oldest first."""
        with self._lock:
            return [e for e in self._events if kind is None or e["event"] == kind]

    def wait_for_blocking(
        self, predicate: Callable[[Event], bool], *, timeout: float = 5.0, skip: int = 0
    ) -> Event:
        """The first event (after the first `skip` that match) for which `predicate` holds;
        blocks the thread: for synchronous code only."""
        deadline = time.monotonic() + timeout
        while (found := self._match(predicate, skip)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(self._explain(timeout))
            time.sleep(0.01)
        return found

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for a polling loop
        skip: int = 0,
    ) -> Event:
        """As `wait_for_blocking`, letting the event loop run meanwhile."""
        deadline = time.monotonic() + timeout
        while (found := self._match(predicate, skip)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(self._explain(timeout))
            await asyncio.sleep(0.01)
        return found

    def _match(self, predicate: Callable[[Event], bool], skip: int) -> Event | None:
        matching = [e for e in self.events() if predicate(e)]
        return matching[skip] if len(matching) > skip else None

    def _explain(self, timeout: float) -> str:
        with self._lock:
            events = "\n".join(json.dumps(e) for e in self._events[-30:])
            stderr = "".join(self._stderr[-30:])
        running = "running" if self.running else "not running"
        return (
            f"no such RBM stand-in event within {timeout} s ({running}); last events:\n"
            f"{events}\nstderr:\n{stderr}"
        )
