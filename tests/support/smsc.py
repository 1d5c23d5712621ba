"""The test SMSC (tests/smsc/server.js, node-smpp) as a subprocess: its port, its events, its
commands, killing it and starting it again on the same port.

node-smpp is an independent SMPP implementation, so the session is never tested against the
codec it uses (docs/decisions/0001-smpp-library.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from dlrhub.domain.smpp_binds import SmppBind
from tests.support.databases import unavailable

__all__ = ["SMSC_DIR", "Event", "StartSmsc", "TestSmsc", "require_node_smsc"]

SMSC_DIR = Path(__file__).resolve().parents[1] / "smsc"
Event = dict[str, Any]
_START_TIMEOUT_S = 15.0


def require_node_smsc() -> str:
    """The node executable, after checking the SMSC's modules are installed; skips locally
    and fails in CI (DLRHUB_TEST_REQUIRE_SERVICES=1) when either is missing."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (apt-get install nodejs npm)")
        raise AssertionError("unreachable")  # unavailable() always raises
    if not (SMSC_DIR / "node_modules" / "smpp" / "package.json").is_file():
        unavailable("the test SMSC's modules are missing: npm ci --prefix tests/smsc")
    return node


class TestSmsc:
    """One `node tests/smsc/server.js`; `env` as server.js documents (PORT is managed here)."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    def __init__(
        self, node: str, env: Mapping[str, str] | None = None, *, system_id: str = "dlrhub"
    ) -> None:
        self.system_id = system_id
        self.password = "secret"
        self._node = node
        self._env = {"SYSTEM_ID": system_id, "PASSWORD": self.password, **(env or {})}
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._stderr: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def tls(self) -> bool:
        return "TLS_CERT" in self._env

    # -- the process ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the server (on the port it had before, if any) and wait until it listens."""
        assert self._proc is None, "already running"
        env = {**os.environ, **self._env, "PORT": str(self.port)}
        self._proc = subprocess.Popen(
            [self._node, str(SMSC_DIR / "server.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        generation = len(self.events("listening"))
        threading.Thread(target=self._read_events, args=(self._proc,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self._proc,), daemon=True).start()
        listening = self.wait_for_blocking(
            lambda e: e["event"] == "listening", timeout=_START_TIMEOUT_S, skip=generation
        )
        self.port = int(listening["port"])

    def kill(self) -> None:
        """SIGKILL: every connection drops at once, as when an SMSC crashes."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
            self._close_pipes(proc)

    def restart(self) -> None:
        """Kill, then start again on the same port (receipts not yet answered are lost)."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """End the server: closing its stdin ends it; SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=10)
        self._close_pipes(proc)

    @staticmethod
    def _close_pipes(proc: subprocess.Popen[str]) -> None:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _read_events(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    event = {"event": "unreadable", "line": line}
                with self._lock:
                    self._events.append(event)
        except (OSError, ValueError):  # the pipe was closed by kill()
            return

    def _read_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                with self._lock:
                    self._stderr.append(line)
        except (OSError, ValueError):
            return

    # -- talking to it -------------------------------------------------------------------

    def send(self, command: Mapping[str, Any]) -> None:
        """One command: mo, receipt, enquire_link or drop (see server.js)."""
        assert self._proc is not None, "not running"
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()

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
        while True:
            found = self._match(predicate, skip)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(self._explain(timeout))
            time.sleep(0.01)

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for a polling loop
        skip: int = 0,
    ) -> Event:
        """As `wait_for_blocking`, letting the event loop run meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._match(predicate, skip)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(self._explain(timeout))
            await asyncio.sleep(0.01)

    async def wait_events(
        self,
        kind: str,
        count: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for a polling loop
    ) -> list[Event]:
        """The first `count` events of a kind, once they have all arrived (a line the server
        wrote before answering may still be on its way here when the answer is)."""
        await self.wait_for(lambda e: e["event"] == kind, timeout=timeout, skip=count - 1)
        return self.events(kind)[:count]

    def _match(self, predicate: Callable[[Event], bool], skip: int) -> Event | None:
        matching = [e for e in self.events() if predicate(e)]
        return matching[skip] if len(matching) > skip else None

    def _explain(self, timeout: float) -> str:
        with self._lock:
            events = "\n".join(json.dumps(e) for e in self._events[-30:])
            stderr = "".join(self._stderr[-30:])
        return f"no such SMSC event within {timeout} s; last events:\n{events}\nstderr:\n{stderr}"

    # -- how dlrhub reaches it -----------------------------------------------------------

    def bind(self, **settings: Any) -> SmppBind:
        """An SmppBind for this server (smpps:// when it serves TLS); `settings` override."""
        bind = SmppBind(
            host="127.0.0.1",
            port=self.port,
            system_id=self.system_id,
            password=self.password,
            tls=self.tls,
        )
        return replace(bind, **settings)

    def url(self, **query: Any) -> str:
        """The DLRHUB_SMPP_BINDS entry for this server."""
        scheme = "smpps" if self.tls else "smpp"
        params = "&".join(f"{k}={v}" for k, v in query.items())
        url = f"{scheme}://{self.system_id}:{self.password}@127.0.0.1:{self.port}"
        return f"{url}?{params}" if params else url


# What the `start_smsc` fixture gives: `start_smsc(system_id=..., **server_js_env)`.
StartSmsc = Callable[..., TestSmsc]
