"""Run the real ``dlrhub`` CLI in subprocesses (``python -m dlrhub ...``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from .api_client import AccountKey
from .assertions import is_uuid

__all__ = [
    "CLI_BASE",
    "ServerProcess",
    "cli_env",
    "create_account_with_cli",
    "run_cli",
    "server_env",
]

CLI_BASE: tuple[str, ...] = (sys.executable, "-m", "dlrhub")

_STOP_GRACE_S = 15.0
_LISTENING = re.compile(r"http://[^\s/\"']+:(\d+)")
_KILL_WAIT_S = 10.0


def cli_env(env: Mapping[str, str]) -> dict[str, str]:
    """``os.environ`` with ``env`` merged over it (and unbuffered Python output)."""
    merged = dict(os.environ)
    merged.setdefault("PYTHONUNBUFFERED", "1")
    merged.update(env)
    return merged


def run_cli(
    *args: str,
    env: Mapping[str, str],
    timeout: float = 60,
    input: str | None = None,
    cwd: Path | str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dlrhub *args``; capture stdout/stderr as text; never checks the exit code.

    If the command does not finish within ``timeout`` it is killed and AssertionError is raised
    with whatever it printed.
    """
    cmd = [*CLI_BASE, *args]
    try:
        return subprocess.run(
            cmd,
            env=cli_env(env),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"{' '.join(cmd)} did not finish within {timeout:g} s\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        ) from None


def server_env(database_url: str, ca_bundle: Path, **overrides: str) -> dict[str, str]:
    """The environment of a `dlrhub serve --dev` subprocess (and of CLI calls beside it)."""
    env = {
        "DLRHUB_DATABASE_URL": database_url,
        "DLRHUB_CA_BUNDLE": str(ca_bundle),
        "DLRHUB_SIMULATOR_DELAY_MS": "0",
        "DLRHUB_RETRY_SCHEDULE": "1,1,2",
        "DLRHUB_POLL_INTERVAL_S": "0.2",
        "DLRHUB_LOG_LEVEL": "info",
    }
    env.update(overrides)
    return env


def create_account_with_cli(env: dict[str, str], name: str) -> AccountKey:
    """`python -m dlrhub accounts create NAME --json`; stdout must be exactly one JSON object."""
    result = run_cli("accounts", "create", name, "--json", env=env)
    assert result.returncode == 0, (result.stdout, result.stderr)
    created = json.loads(result.stdout)
    assert isinstance(created, dict)
    assert set(created) == {"accountId", "apiKey"}, created
    assert is_uuid(created["accountId"])
    assert isinstance(created["apiKey"], str)
    assert created["apiKey"]
    return AccountKey(created["accountId"], created["apiKey"])


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


class ServerProcess:
    """``python -m dlrhub <args> --host 127.0.0.1 --port <port>`` as a managed subprocess.

    stdout and stderr both go to ``log_path`` (inside ``log_dir``), readable at any time, even
    after :meth:`kill`.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        args: Sequence[str] = ("serve", "--dev"),
        host: str = "127.0.0.1",
        port: int | None = None,
        log_name: str | None = None,
    ) -> None:
        self.env = dict(env)
        self.args = tuple(args)
        self.host = host
        # Port 0: the process binds a free port itself and prints which; picking one here and
        # handing it over would race with every other process on the machine.
        self._requested_port = port or 0
        self.port = self._requested_port
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / (log_name or f"dlrhub-{uuid.uuid4().hex[:8]}.log")
        self._log_offset = 0
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ info

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def command(self) -> list[str]:
        return [*CLI_BASE, *self.args, "--host", self.host, "--port", str(self._requested_port)]

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended (negative: killed by that signal)."""
        return None if self._proc is None else self._proc.poll()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """Everything the process printed so far (stdout and stderr interleaved)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30) -> ServerProcess:
        """Start the process, learn the port it bound from its own output, and wait until
        ``GET /healthz`` on that port answers 200 (so no other process can be the one
        answering: the port is held by ours)."""
        if self.is_running():
            raise RuntimeError("server process already running")
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command,
                env=cli_env(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal does not hit it directly
            )
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while True:
            proc = self._proc
            assert proc is not None
            code = proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"{' '.join(self.command)} exited with {code} before becoming healthy\n"
                    f"--- log ---\n{self.log_text()}"
                )
            bound = self._bound_port()
            if bound is None:
                last_error = "the process has not said which port it bound"
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"{last_error} within {timeout:g} s\n{self.log_text()}")
                time.sleep(0.05)
                continue
            self.port = bound
            url = self.base_url + "/healthz"
            try:
                with opener.open(url, timeout=2) as response:
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
                exc.close()
            except (OSError, urllib.error.URLError) as exc:
                last_error = repr(exc)
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"{url} not healthy within {timeout:g} s (last: {last_error})\n"
                    f"--- log ---\n{self.log_text()}"
                )
            time.sleep(0.1)

    def _bound_port(self) -> int | None:
        """The port this run of the process says it listens on (`serve`/`api`: "listening on
        http://HOST:PORT"; `worker`: "metrics listening on http://HOST:PORT/metrics")."""
        with contextlib.suppress(FileNotFoundError):
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", "replace")
            for line in text.splitlines():
                if "listening on http://" in line:
                    found = _LISTENING.search(line)
                    if found:
                        return int(found.group(1))
        return None

    def stop(self, timeout: float = _STOP_GRACE_S) -> int | None:
        """SIGINT, wait up to ``timeout`` s, then SIGKILL. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return self.kill()
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL and wait. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        proc.wait(_KILL_WAIT_S)
        return proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
