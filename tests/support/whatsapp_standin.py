"""The WhatsApp Cloud API stand-in (tests/standins/whatsapp_cloud.py) as a subprocess for tests:
start it on a free port, read its JSON-lines events, send it control commands, stop it.

    with WhatsAppStandIn(notify_url=receiver.url_for("/carrier/v1/whatsapp")) as standin:
        settings: DLRHUB_WHATSAPP_API_URL=standin.api_url, _TOKEN=standin.token,
                  _APP_SECRET=standin.app_secret
        await standin.control("inbound", {"from": "4915112345678", "phone_number_id": "1"})
        await standin.wait_for(lambda e: e["event"] == "notify" and e["kind"] == "message")

The behaviours chosen by the recipient's last two digits are listed in the stand-in's docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import aiohttp

from tests.support.databases import unavailable

__all__ = ["STANDIN_MODULE", "Event", "WhatsAppStandIn", "require_whatsapp_standin"]

STANDIN_MODULE = "tests.standins.whatsapp_cloud"
_REPO = Path(__file__).resolve().parents[2]
_START_TIMEOUT_S = 15.0
Event = dict[str, Any]


def require_whatsapp_standin() -> None:
    """Skips locally and fails in CI (DLRHUB_TEST_REQUIRE_SERVICES=1) when the stand-in cannot
    run here: its module or aiohttp (its server) is missing."""
    if not (_REPO / "tests" / "standins" / "whatsapp_cloud.py").is_file():
        unavailable("the WhatsApp stand-in is missing: tests/standins/whatsapp_cloud.py")
    if importlib.util.find_spec("aiohttp") is None:
        unavailable("aiohttp is not installed (pip install -e '.[dev]')")


class WhatsAppStandIn:
    """One `python -m tests.standins.whatsapp_cloud` on 127.0.0.1 and a free port."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    def __init__(
        self,
        notify_url: str,
        *,
        token: str = "standin-token",
        app_secret: str = "standin-app-secret",
        ca_file: Path | str | None = None,
        status_delay_ms: int = 20,
    ) -> None:
        self.notify_url = notify_url
        self.token = token
        self.app_secret = app_secret
        self._ca_file = ca_file
        self._status_delay_ms = status_delay_ms
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._stderr: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.exit_code: int | None = None  # set by stop(): 0 when it ended cleanly

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What DLRHUB_WHATSAPP_API_URL is set to: the base URL with a Graph API version."""
        return f"{self.base_url}/v21.0"

    # -- the process ---------------------------------------------------------------------

    def start(self) -> WhatsAppStandIn:
        """Start the process and wait until it listens (its port is then `self.port`)."""
        require_whatsapp_standin()
        assert self._proc is None, "already running"
        command = [sys.executable, "-m", STANDIN_MODULE, "--port", "0", "--token", self.token]
        command += ["--app-secret", self.app_secret, "--notify-url", self.notify_url]
        command += ["--status-delay-ms", str(self._status_delay_ms), "--exit-on-stdin-eof"]
        if self._ca_file is not None:
            command += ["--ca-file", str(self._ca_file)]
        self._proc = subprocess.Popen(
            command,
            cwd=_REPO,  # `tests` is importable from the repository's root
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, args=(self._proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self._proc.stderr, False), daemon=True).start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.events("listening"):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the WhatsApp stand-in did not start:\n{self._explain()}")
            time.sleep(0.02)
        self.port = int(self.events("listening")[0]["port"])
        return self

    def stop(self) -> None:
        """Closing its stdin ends it (it cancels the notifications still due); SIGKILL if it
        lingers."""
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
        self.exit_code = proc.returncode
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    @property
    def returncode(self) -> int | None:
        """None while running (or never started)."""
        return None if self._proc is None else self._proc.poll()

    def __enter__(self) -> WhatsAppStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
        except (OSError, ValueError):  # the pipe was closed by stop()
            return

    # -- events --------------------------------------------------------------------------

    def events(self, kind: str | None = None) -> list[Event]:
        """Every event so far (of one kind: listening, send, notify), oldest first."""
        with self._lock:
            return [e for e in self._events if kind is None or e["event"] == kind]

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        *,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for a polling loop
    ) -> list[Event]:
        """The first `count` events for which `predicate` holds, once they have all arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if predicate(e)]
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(found)} of {count} matching stand-in events within {timeout} s;\n"
                    + self._explain()
                )
            await asyncio.sleep(0.01)

    def _explain(self) -> str:
        with self._lock:
            events = "\n".join(json.dumps(e) for e in self._events[-30:])
            stderr = "".join(self._stderr[-30:])
        return f"last events:\n{events}\nstderr:\n{stderr}"

    # -- control -------------------------------------------------------------------------

    async def control(self, command: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST /_control/{command} (inbound, batch, signature, verify); the answer says what
        the notify URL answered: {"http_status", "body"} or {"http_status": None, "error"}."""
        url = f"{self.base_url}/_control/{command}"
        async with aiohttp.ClientSession() as session, session.post(url, json=payload) as answer:
            body: dict[str, Any] = await answer.json()
            if answer.status != 200:
                raise AssertionError(f"control {command} refused ({answer.status}): {body}")
            return body

    async def send(
        self, to: str, text: str = "hello", *, phone_number_id: str = "106540352242922"
    ) -> tuple[int, dict[str, Any]]:
        """A send as dlrhub makes it (for tests of the stand-in itself): (HTTP status, body)."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        body["to"] = to
        body |= {"type": "text", "text": {"body": text}}
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.api_url}/{phone_number_id}/messages"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body, headers=headers) as answer,
        ):
            return answer.status, await answer.json()
