"""The end-to-end scenario (issue 10): a customer's messages through the public API, timed
to their webhook.

One run per setup, on a fresh database: `dlrhub db upgrade`, an account and its API key
made with `dlrhub accounts create` (the CLI, so any checkout's dlrhub works), dlrhub started
with the simulator's delay at 0, the account's delivery-status webhook set through the API
to the receiver, then phases, each sent by `loadgen.py` (its own process) and each waited
for until every accepted message's webhook arrived (or nothing arrived for `stall_s`):
a warm-up burst, a closed-loop burst, and one open-loop phase per steady rate.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
from deploy import Deployment, Topology, start_dlrhub
from harness import BENCH_DIR
from scenarios import Context, drop_db, percentiles, wait_committed
from seeding import upgrade

WEBHOOK_PATH = "/api/partner-gateway/v1/webhooks/delivery-status"
DRIFT_WINDOW_S = 1.0  # latency of the first second of a steady phase vs its last second


@dataclass(frozen=True)
class E2ESizes:
    connections: int
    warmup: int
    burst: int
    rates: tuple[float, ...]
    duration_s: float
    stall_s: float
    ceiling_n: int
    pools: list[int]
    repeat: int
    quick: bool


def create_key(env: dict[str, str], url: str) -> str:
    """A new account through `dlrhub accounts create` (`--json` where the CLI has it, else
    its `API key: …` line); returns the API key."""
    argv = [sys.executable, "-m", "dlrhub", "accounts", "create", f"bench-{uuid.uuid4().hex[:12]}"]
    child_env = {**env, "DLRHUB_DATABASE_URL": url}
    done = subprocess.run(
        [*argv, "--json"], env=child_env, capture_output=True, text=True, check=False
    )
    if done.returncode == 0:
        return str(json.loads(done.stdout.strip().splitlines()[-1])["apiKey"])
    done = subprocess.run(argv, env=child_env, capture_output=True, text=True, check=False)
    match = re.search(r"API key:\s*(\S+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"dlrhub accounts create failed: {done.stdout}{done.stderr}")
    return match.group(1)


async def set_webhook(api_url: str, key: str, callback_url: str) -> None:
    """The account's delivery-status webhook (SPEC §5): POST creates it, PUT changes it."""
    headers = {"X-Api-Key": key}
    async with aiohttp.ClientSession() as session:
        for method in ("POST", "PUT"):
            async with session.request(
                method, api_url + WEBHOOK_PATH, json={"callbackUrl": callback_url}, headers=headers
            ) as response:
                if response.status in (200, 201):
                    return
                answer = await response.text()
        raise RuntimeError(f"cannot set the webhook: {response.status} {answer}")


class Phases:
    """Runs the phases against one deployment; each returns its summary."""

    def __init__(self, ctx: Context, d: Deployment, key: str, tag: str, sizes: E2ESizes) -> None:
        self.ctx, self.d, self.key, self.tag, self.sizes = ctx, d, key, tag, sizes
        self.expected = 0  # accepted messages so far: distinct webhooks the receiver should see
        self.numbered = 0  # messages started so far (numbers their destinations)

    def cpu_s(self) -> float:
        return sum(p.cpu_s() for p in self.d.procs)

    async def burst(self, name: str, n: int) -> dict[str, Any]:
        return await self._run(name, None, ["burst", "--n", str(n)])

    async def steady(self, rate: float) -> dict[str, Any]:
        tail = ["steady", "--rate", str(rate), "--duration", str(self.sizes.duration_s)]
        return await self._run(f"steady {rate:g}/s", rate, tail)

    async def _run(self, name: str, offered: float | None, tail: list[str]) -> dict[str, Any]:
        ctx = self.ctx
        cpu = self.cpu_s()
        sends = await self._loadgen(name, tail)
        accepted = sum(1 for i in sends["ids"] if i is not None)
        self.numbered += len(sends["ids"])
        if self.d.topology.workers:
            self.expected += accepted
            await ctx.receiver.wait_for(
                self.tag, self.expected, stall_s=self.sizes.stall_s, key="unique"
            )
            # Until the last successes are recorded too: that work belongs to this phase's CPU.
            await wait_committed(self.d.url, timeout_s=self.sizes.stall_s)
        cpu = self.cpu_s() - cpu
        arrivals = await ctx.receiver.arrivals(self.tag)
        summary = summarise(sends, arrivals, offered)
        usage = self.d.usage()
        summary.update(
            phase=name,
            cpu_s=cpu,
            cpu_ms_per_message=1000 * cpu / max(accepted, 1),
            peak_rss_mb=usage["peak_rss_any_mb"],
        )
        return summary

    async def _loadgen(self, name: str, tail: list[str]) -> dict[str, Any]:
        ctx = self.ctx
        out = ctx.harness.workdir / f"{self.tag}-{name.replace(' ', '-').replace('/', '')}.json"
        argv = [
            sys.executable,
            str(BENCH_DIR / "loadgen.py"),
            *("--urls", ",".join(self.d.api_urls), "--key", self.key),
            *("--connections", str(self.sizes.connections), "--first", str(self.numbered)),
            *("--out", str(out), *tail),
        ]
        env = ctx.tool_env or ctx.env
        proc = ctx.harness.spawn("loadgen", argv, env=env, role="loadgen", pipe=True)
        try:
            await asyncio.to_thread(proc.popen.communicate, None, 900)
        finally:
            await ctx.harness.stop(proc)
        if proc.popen.returncode != 0:
            raise RuntimeError(f"the load generator failed ({name}): exit {proc.popen.returncode}")
        sends: dict[str, Any] = json.loads(out.read_text())
        out.unlink()
        return sends


def summarise(
    sends: dict[str, Any], arrivals: dict[str, float], offered: float | None
) -> dict[str, Any]:
    """One phase's figures from the load generator's per-message times and the receiver's
    arrival times (all wall clock on this host)."""
    rows = list(zip(sends["ids"], sends["sent"], sends["ack"], sends["status"], strict=True))
    ok = [(m, s, a) for m, s, a, _ in rows if m is not None]
    arrived = [(m, s, a, arrivals[m]) for m, s, a in ok if m in arrivals]
    first_sent = min((s for _, s, _, _ in rows), default=0.0)
    last_ack = max((a for _, _, a in ok), default=first_sent)
    times = [t for *_, t in arrived]
    latencies = [(t - a) * 1000 for _, _, a, t in arrived]
    statuses: dict[str, int] = {}
    for *_, status in rows:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    result: dict[str, Any] = {
        "offered_per_s": offered,
        "sent": len(rows),
        "accepted": len(ok),
        "refused": len(rows) - len(ok),
        "statuses": statuses,
        "arrived": len(arrived),
        "lost": len(ok) - len(arrived),
        "accepted_per_s": len(ok) / max(last_ack - first_sent, 1e-9),
        # first send → last webhook of the phase
        "webhooks_per_s_end_to_end": len(times) / max(max(times, default=0) - first_sent, 1e-9),
        # first → last webhook (the rate webhooks flowed at)
        "webhooks_per_s": len(times) / max(max(times, default=0) - min(times, default=0), 1e-9),
        "latency_ms": percentiles(latencies),
        "from_sent_ms": percentiles([(t - s) * 1000 for _, s, _, t in arrived]),
        "send_http_ms": percentiles([(a - s) * 1000 for _, s, a in ok]),
        "load_generator_cpu_s": sends.get("cpu_s"),
    }
    result.update(_drift(arrived))
    return result


def _drift(arrived: list[tuple[str, float, float, float]]) -> dict[str, Any]:
    """p50 latency from *sending* to the webhook of the messages sent in the phase's first
    second and in its last: a backlog that grows anywhere (queued sends in front of a
    saturated API included) shows as a last second far behind the first. The same from the
    201 is in the JSON too."""
    if not arrived:
        return {"first_second_p50_ms": None, "last_second_p50_ms": None}
    start = min(s for _, s, _, _ in arrived)
    end = max(s for _, s, _, _ in arrived)
    first = [m for m in arrived if m[1] < start + DRIFT_WINDOW_S]
    last = [m for m in arrived if m[1] >= end - DRIFT_WINDOW_S]

    def p50(group: list[tuple[str, float, float, float]], from_201: bool) -> float | None:
        return percentiles([(t - (a if from_201 else s)) * 1000 for _, s, a, t in group])["p50"]

    return {
        "first_second_p50_ms": p50(first, False),
        "last_second_p50_ms": p50(last, False),
        "first_second_p50_from_201_ms": p50(first, True),
        "last_second_p50_from_201_ms": p50(last, True),
    }


async def _empty_db(ctx: Context, backend: str, tag: str) -> str:
    if backend == "postgresql":
        return ctx.harness.pg_url(await ctx.harness.create_pg(tag))
    return ctx.harness.sqlite_url(tag)


async def endtoend(ctx: Context, topo: Topology, sizes: E2ESizes) -> dict[str, Any]:
    """Every phase on one setup; the processes' usage; the receiver's duplicate count."""
    tag = ctx.tag("e2e")
    url = await _empty_db(ctx, topo.backend, tag)
    try:
        await asyncio.to_thread(upgrade, url, ctx.env)
        key = await asyncio.to_thread(create_key, ctx.env, url)
        env = {**ctx.env, "DLRHUB_SIMULATOR_DELAY_MS": "0"}
        deployment = await start_dlrhub(ctx.harness, topo, url, env, ctx.commands, tag)
        started = time.monotonic()
        try:
            await set_webhook(deployment.api_urls[0], key, f"{ctx.receiver_url}/hook/{tag}")
            phases = Phases(ctx, deployment, key, tag, sizes)
            results = [await phases.burst("warm-up", sizes.warmup)]
            results.append(await phases.burst("burst", sizes.burst))
            # `api` alone measures the send API only: no worker, so no webhook to wait for.
            for rate in sizes.rates if topo.workers else ():
                results.append(await phases.steady(rate))
        finally:
            usage = await deployment.stop()
        stats = await ctx.receiver.stats(tag)
        return {
            "tag": tag,
            "shape": deployment.shape,
            "api_processes": len(deployment.api_urls),
            "phases": results,
            "usage": usage,
            "duplicates": stats["count"] - stats["unique"],
            "seconds": time.monotonic() - started,
        }
    finally:
        await drop_db(ctx, url)
