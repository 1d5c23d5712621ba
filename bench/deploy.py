"""Starting dlrhub the way a user would (`dlrhub serve`, or `dlrhub api` + N `dlrhub worker`),
the receiver, and the ceiling client; and talking to the receiver."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from harness import BENCH_DIR, Harness, Proc

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Topology:
    backend: str  # "sqlite" or "postgresql"
    workers: int  # 0: `apis` x `dlrhub api` alone (the send API's own rate, no pipeline)
    apis: int = 1  # `dlrhub api` processes on PostgreSQL, each on its own port
    serve: bool = False  # `workers` x `dlrhub serve` even where `api` + `worker` exist

    @property
    def key(self) -> str:
        key = f"{self.backend}-{self.workers}"
        if self.serve:
            return key + "-serve"
        return key + (f"-{self.apis}api" if self.apis > 1 else "")

    @property
    def label(self) -> str:
        name = "SQLite" if self.backend == "sqlite" else "PostgreSQL"
        if not self.workers:
            return f"{name} api alone"
        if self.serve:
            return f"{name} serve" + (f" x{self.workers}" if self.workers > 1 else "")
        if self.apis > 1:
            return f"{name} api x{self.apis} + worker x{self.workers}"
        return f"{name} x{self.workers}"


COMMANDS_OF = (
    "import typer.main; from dlrhub.cli import app; "
    "print(' '.join(typer.main.get_command(app).commands))"
)


def dlrhub_commands(env: dict[str, str]) -> set[str]:
    """The subcommands of the dlrhub that `env` runs (`api` and `worker` arrived with
    issue 3); asked in a child process, since `env` may point at another checkout."""
    out = subprocess.run(
        [sys.executable, "-c", COMMANDS_OF], env=env, capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def dlrhub_origin(env: dict[str, str]) -> str:
    """Where the dlrhub that `env` runs is imported from (to check `--dlrhub-src`)."""
    return subprocess.run(
        [sys.executable, "-c", "import dlrhub; print(dlrhub.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    harness: Harness
    topology: Topology
    procs: list[Proc]
    api_url: str
    shape: str
    url: str
    workers: list[Proc] = field(default_factory=list)
    api_urls: list[str] = field(default_factory=list)
    cpu_at_start: dict[str, float] = field(default_factory=dict)

    def usage(self) -> dict[str, Any]:
        """Peak RSS (MiB) and CPU seconds since startup of every dlrhub process, read
        before stopping."""
        per = {
            p.name: {
                "peak_rss_mb": p.peak_rss_mb(),
                "cpu_s": p.cpu_s() - self.cpu_at_start.get(p.name, 0.0),
            }
            for p in self.procs
        }
        dispatching = [per[p.name]["peak_rss_mb"] for p in self.workers]
        return {
            "processes": per,
            "peak_rss_mb": max(dispatching, default=None),  # none: `api` alone
            "peak_rss_any_mb": max(v["peak_rss_mb"] for v in per.values()),
            "cpu_s": sum(v["cpu_s"] for v in per.values()),
        }

    async def stop(self) -> dict[str, Any]:
        usage = self.usage()
        await asyncio.gather(*(self.harness.stop(p) for p in self.procs))
        return usage


async def start_dlrhub(
    harness: Harness,
    topology: Topology,
    url: str,
    env: dict[str, str],
    commands: set[str],
    label: str,
) -> Deployment:
    """SQLite: one `dlrhub serve`. PostgreSQL: `dlrhub api` + N `dlrhub worker` when this
    dlrhub has them, otherwise N `dlrhub serve` sharing the database. `label` names the
    profiles (with `--profile`). If any process fails to start, all of them are stopped."""
    deployment = Deployment(harness, topology, [], "", "", url)
    try:
        await _spawn_all(deployment, {**env, "DLRHUB_DATABASE_URL": url}, commands, label)
        await asyncio.sleep(0.5)  # workers connect and start their loops
        for proc in deployment.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{harness.tail(proc)}")
    except BaseException:
        await asyncio.gather(*(harness.stop(p) for p in deployment.procs))
        raise
    deployment.cpu_at_start = {p.name: p.cpu_s() for p in deployment.procs}  # imports etc.
    return deployment


async def _spawn_all(d: Deployment, env: dict[str, str], commands: set[str], label: str) -> None:
    def spawn(name: str, argv: list[str]) -> Proc:
        profile_as = f"{label}-{d.topology.key}-{name}"
        proc = d.harness.spawn(name, argv, env=env, role="dlrhub", profile_as=profile_as)
        d.procs.append(proc)
        return proc

    dlrhub = [sys.executable, "-m", "dlrhub"]
    port = free_port()
    d.api_url = f"http://127.0.0.1:{port}"
    count = d.topology.workers
    split = not d.topology.serve and {"api", "worker"} <= commands
    if (d.topology.backend == "postgresql" and split) or count == 0:
        apis = d.topology.apis
        d.shape = f"{apis} x dlrhub api + {count} x dlrhub worker".removeprefix("1 x ")
        for j in range(apis):
            p = port if j == 0 else free_port()
            d.api_urls.append(f"http://127.0.0.1:{p}")
            name = "api" if apis == 1 else f"api{j + 1}"
            await wait_ready(
                d.harness, spawn(name, [*dlrhub, "api", "--port", str(p)]), d.api_urls[-1]
            )
        for i in range(count):
            metrics = free_port()
            worker = spawn(f"worker{i + 1}", [*dlrhub, "worker", "--metrics-port", str(metrics)])
            d.workers.append(worker)
            await wait_ready(d.harness, worker, f"http://127.0.0.1:{metrics}")
        return
    d.shape = f"{count} x dlrhub serve"
    for i in range(count):
        p = port if i == 0 else free_port()
        proc = spawn(f"serve{i + 1}", [*dlrhub, "serve", "--port", str(p)])
        d.workers.append(proc)
        d.api_urls.append(f"http://127.0.0.1:{p}")
        await wait_ready(d.harness, proc, f"http://127.0.0.1:{p}")


async def wait_ready(harness: Harness, proc: Proc, base_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{harness.tail(proc)}")
            try:
                async with session.get(f"{base_url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready after {READY_TIMEOUT_S:g} s:\n{harness.tail(proc)}")


async def start_receiver(harness: Harness, env: dict[str, str]) -> tuple[Proc, str]:
    proc = harness.spawn(
        "receiver",
        [sys.executable, str(BENCH_DIR / "receiver.py")],
        env=env,
        role="receiver",
        pipe=True,
    )
    assert proc.popen.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.popen.stdout.readline), 30)
    if not line.startswith(b"PORT "):
        raise RuntimeError(f"receiver did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


async def run_ceiling(
    harness: Harness, env: dict[str, str], url: str, n: int, pool: int
) -> dict[str, Any]:
    argv = [sys.executable, str(BENCH_DIR / "ceiling.py"), "--url", url]
    proc = harness.spawn(
        "ceiling", [*argv, "--n", str(n), "--pool", str(pool)], env=env, role="ceiling", pipe=True
    )
    try:
        out, _ = await asyncio.to_thread(proc.popen.communicate, None, 600)
    finally:
        await harness.stop(proc)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


class ReceiverClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ReceiverClient:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _get(self, path: str) -> Any:
        assert self._session is not None
        async with self._session.get(self.base_url + path) as response:
            return await response.json()

    async def stats(self, tag: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self._get("/stats")).get(tag, {})
        return found or {"count": 0, "unique": 0, "first": 0.0, "last": 0.0}

    async def arrivals(self, tag: str) -> dict[str, float]:
        result: dict[str, float] = await self._get(f"/arrivals/{tag}")
        return result

    async def wait_for(
        self, tag: str, n: int, *, stall_s: float = 30.0, key: str = "count"
    ) -> dict[str, Any]:
        """Until `n` requests arrived under `tag` (`key="unique"`: `n` distinct webhook-ids);
        gives up after `stall_s` without progress."""
        seen, progress_at = -1, time.monotonic()
        while True:
            stats = await self.stats(tag)
            if stats[key] >= n:
                return stats
            if stats[key] != seen:
                seen, progress_at = stats[key], time.monotonic()
            elif time.monotonic() - progress_at > stall_s:
                stats["stalled"] = True
                return stats
            await asyncio.sleep(0.1)
