"""Processes and databases the benchmark starts, and the guarantee that it stops them all.

Every child is registered here the moment it starts and every PostgreSQL database the moment
it is created; `Harness.close()` (called from a `finally`, and again from `atexit` as a last
resort) stops the children (SIGTERM, then SIGKILL) and drops the databases. Children also get
SIGTERM from the kernel if the benchmark itself dies (Linux `PR_SET_PDEATHSIG`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

BENCH_DIR = Path(__file__).resolve().parent
DB_PREFIX = "dlrhub_bench_"
PY_SPY = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "-r", "100"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None
    role: str
    profiled: bool = False

    @property
    def pid(self) -> int:
        """The measured process: under `py-spy record` it is py-spy's child."""
        if self.profiled:
            with contextlib.suppress(psutil.Error, IndexError):
                return int(psutil.Process(self.popen.pid).children()[0].pid)
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def peak_rss_mb(self) -> float:
        """The process's high-water mark of resident memory (VmHWM), in MiB."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        with contextlib.suppress(psutil.Error):
            return float(psutil.Process(self.pid).memory_info().rss) / (1024 * 1024)
        return 0.0

    def cpu_s(self) -> float:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(self.pid).cpu_times()
            return float(times.user + times.system)
        return 0.0


@dataclass
class Harness:
    pg_admin_dsn: str
    keep_logs: bool = False
    profile_dir: Path | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dlrhub-bench-")))
    procs: list[Proc] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    _counter: int = 0

    # -- processes -----------------------------------------------------------------------

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        role: str,
        pipe: bool = False,
        profile_as: str | None = None,
    ) -> Proc:
        """Start a child; with `profile_as` (and `profile_dir` set) under `py-spy record`,
        writing collapsed stacks to `profile_dir/<profile_as>.txt`."""
        log_path = None if pipe else self.workdir / f"{len(self.procs):02d}-{name}.log"
        profiled = profile_as is not None and self.profile_dir is not None
        if profiled:
            assert self.profile_dir is not None
            output = self.profile_dir / f"{profile_as}.txt"
            argv = [*PY_SPY, "-o", str(output), "--", *argv]
        out = subprocess.PIPE if pipe else open(log_path, "wb")  # type: ignore[arg-type]  # noqa: SIM115
        try:
            popen = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if not pipe else None,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        finally:
            if not pipe:
                out.close()  # type: ignore[union-attr]
        proc = Proc(name, popen, log_path, role, profiled)
        self.procs.append(proc)
        return proc

    async def stop(self, proc: Proc, timeout_s: float = 15.0) -> None:
        """SIGTERM (dlrhub drains in-flight work), then SIGKILL after `timeout_s`."""
        if proc.alive():
            target = proc.pid  # py-spy writes its profile when its child exits
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(proc.popen.wait, timeout_s)
            if proc.alive():
                for pid in {target, proc.popen.pid}:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=5)
        if proc in self.procs:
            self.procs.remove(proc)

    def tail(self, proc: Proc, lines: int = 30) -> str:
        if proc.log_path is None or not proc.log_path.exists():
            return ""
        return "\n".join(proc.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- databases -----------------------------------------------------------------------

    def sqlite_url(self, tag: str) -> str:
        return f"sqlite+aiosqlite:///{self.workdir / f'{tag}.db'}"

    def _dsn(self, database: str) -> str:
        base, _, _ = self.pg_admin_dsn.rpartition("/")
        return f"{base}/{database}"

    def pg_url(self, database: str) -> str:
        return self._dsn(database).replace("postgresql://", "postgresql+asyncpg://", 1)

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self.pg_admin_dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def create_pg(self, tag: str, template: str | None = None) -> str:
        """A new database `dlrhub_bench_<pid>_<n>_<tag>`; returns its name."""
        self._counter += 1
        name = f"{DB_PREFIX}{os.getpid()}_{self._counter}_{tag}"[:63]
        clause = f' TEMPLATE "{template}"' if template else ""
        self.databases.append(name)
        await self._admin(f'CREATE DATABASE "{name}"{clause}')
        return name

    async def drop_pg(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.databases:
            self.databases.remove(name)

    async def drop_stale(self) -> list[str]:
        """Drop benchmark databases left by runs whose process is gone (e.g. SIGKILLed)."""
        conn = await asyncpg.connect(self.pg_admin_dsn)
        try:
            rows = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", DB_PREFIX + "%"
            )
        finally:
            await conn.close()
        dropped = []
        for row in rows:
            match = re.match(rf"{DB_PREFIX}(\d+)_", row["datname"])
            if match and not psutil.pid_exists(int(match.group(1))):
                await self._admin(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
                dropped.append(row["datname"])
        return dropped

    # -- cleanup -------------------------------------------------------------------------

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(proc, 10.0) for proc in list(self.procs)))
        for name in list(self.databases):
            try:
                await self.drop_pg(name)
            except (OSError, asyncpg.PostgresError) as exc:
                print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)
        if not self.keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def close_sync(self) -> None:
        """Last resort (atexit): kill what is left, drop what is left."""
        for proc in list(self.procs):
            for pid in {proc.pid, proc.popen.pid}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.procs.remove(proc)
        if self.databases:
            with contextlib.suppress(Exception):
                asyncio.run(self.close())
        if not self.keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)
