"""The four scenarios of issue 3, each run against a fresh database and fresh dlrhub processes."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from deploy import Deployment, ReceiverClient, Topology, run_ceiling, start_dlrhub
from harness import Harness
from seeding import Account, clone_messages, create_accounts, insert_deliveries, upgrade
from sqlalchemy.engine import make_url

OPEN = "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'failed')"
BY_STATUS = "SELECT status, count(*) FROM deliveries GROUP BY status"
HEALTHY_WEBHOOKS = 100


@dataclass
class Context:
    harness: Harness
    receiver_url: str
    receiver: ReceiverClient
    env: dict[str, str]
    commands: set[str]
    carrier_token: str
    done_rows: int
    # The bench's own helpers' environment (ceiling, load generator): `env` without
    # `--dlrhub-src` on PYTHONPATH. Empty: the same as `env`.
    tool_env: dict[str, str] = field(default_factory=dict)
    templates: dict[tuple[str, str], str] = field(default_factory=dict)
    _tags: itertools.count[int] = field(default_factory=itertools.count)

    def tag(self, prefix: str) -> str:
        return f"{prefix}{next(self._tags)}"


@dataclass
class Measured:
    """What one run of dlrhub produced."""

    rate: float
    count: int
    usage: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


# -- databases ------------------------------------------------------------------------------


async def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        path = make_url(url).database

        def read() -> list[tuple[Any, ...]]:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
                return list(conn.execute(sql).fetchall())

        return await asyncio.to_thread(read)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def wait_committed(url: str, timeout_s: float = 60.0) -> float | None:
    """When no delivery is left to send (wall clock), or None after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (await _query(url, OPEN))[0][0] == 0:
            return time.time()
        await asyncio.sleep(0.1)
    return None


async def _template(ctx: Context, backend: str, kind: str) -> str:
    """A migrated database to copy: `empty`, or `done` (holding `ctx.done_rows` deliveries
    that succeeded a day ago)."""
    key = (backend, kind)
    if key not in ctx.templates:
        h = ctx.harness
        url = h.sqlite_url(f"template-{kind}")
        if backend == "postgresql":
            url = h.pg_url(await h.create_pg(f"tpl_{kind}"))
        await asyncio.to_thread(upgrade, url, ctx.env)
        if kind == "done":
            owner = await create_accounts(url, [f"{ctx.receiver_url}/hook/done-never-sent"])
            await insert_deliveries(url, owner, ctx.done_rows, done=True)
        ctx.templates[key] = url
    return ctx.templates[key]


async def fresh_db(ctx: Context, backend: str, kind: str = "empty") -> str:
    template = await _template(ctx, backend, kind)
    h = ctx.harness
    if backend == "postgresql":
        return h.pg_url(await h.create_pg(kind, template=str(make_url(template).database)))
    source = Path(str(make_url(template).database))
    target = h.workdir / f"{ctx.tag('db')}-{kind}.db"
    for suffix in ("", "-wal"):
        if source.with_name(source.name + suffix).exists():
            await asyncio.to_thread(shutil.copyfile, f"{source}{suffix}", f"{target}{suffix}")
    return f"sqlite+aiosqlite:///{target}"


async def drop_db(ctx: Context, url: str) -> None:
    if url.startswith("postgresql"):
        await ctx.harness.drop_pg(str(make_url(url).database))
    else:
        path = str(make_url(url).database)
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(path + suffix).unlink, missing_ok=True)


# -- scenario 1 and 3: a backlog ---------------------------------------------------------


async def drain(
    ctx: Context, topo: Topology, url: str, tag: str, n: int, *, all_due: bool = True
) -> Measured:
    """Start dlrhub on a seeded database and time it sending `n` deliveries to `tag`
    (`all_due`: and then until nothing is left to send)."""
    deployment = await start_dlrhub(ctx.harness, topo, url, ctx.env, ctx.commands, tag)
    try:
        stats = await ctx.receiver.wait_for(tag, n)
        done = all_due and stats["count"] >= n
        committed = await wait_committed(url) if done else None
    finally:
        usage = await deployment.stop()
    by_status = dict(await _query(url, BY_STATUS))
    span = max(stats["last"] - stats["first"], 1e-9)
    extra = {
        "arrived": stats["count"],
        "duplicates": stats["count"] - stats["unique"],
        "span_s": span,
        "commit_lag_s": None if committed is None else committed - stats["last"],
        "by_status": by_status,
        "shape": deployment.shape,
        "tag": tag,
    }
    extra["cpu_ms_per_delivery"] = 1000 * usage["cpu_s"] / max(stats["count"], 1)
    return Measured(stats["count"] / span, stats["count"], usage, extra)


async def backlog(
    ctx: Context, topo: Topology, n: int, kind: str = "empty", webhooks: int = 1
) -> Measured:
    """`n` due deliveries to `webhooks` webhooks (accounts) of the one receiver, interleaved,
    on empty tables or on `kind="done"` ones."""
    tag = ctx.tag("flat" if kind == "done" else "backlog")
    url = await fresh_db(ctx, topo.backend, kind)
    try:
        accounts = await create_accounts(url, [f"{ctx.receiver_url}/hook/{tag}"] * webhooks)
        await insert_deliveries(url, accounts, n)
        return await drain(ctx, topo, url, tag, n)
    finally:
        await drop_db(ctx, url)


async def ceiling(ctx: Context, n: int, pools: list[int], repeat: int = 1) -> dict[str, Any]:
    """The bare-aiohttp rate for each pool size (median of `repeat` runs); `best` is the
    ceiling."""
    rates: dict[str, float] = {}
    cpu_ms: dict[str, float] = {}
    for pool in pools:
        runs = []
        for _ in range(repeat):
            tag = ctx.tag(f"ceil{pool}-")
            url = f"{ctx.receiver_url}/hook/{tag}"
            result = await run_ceiling(ctx.harness, ctx.tool_env or ctx.env, url, n, pool)
            stats = await ctx.receiver.stats(tag)
            rate = stats["count"] / max(stats["last"] - stats["first"], 1e-9)
            runs.append((rate, 1000 * result["cpu_s"] / max(result["sent"], 1)))
        rates[str(pool)], cpu_ms[str(pool)] = sorted(runs)[len(runs) // 2]
    return {"by_pool": rates, "cpu_ms_per_request": cpu_ms, "best": max(rates.values())}


# -- scenario 4: isolation ------------------------------------------------------------------


async def isolation(ctx: Context, topo: Topology, per_webhook: int, hang: bool) -> Measured:
    """100 healthy webhooks with `per_webhook` deliveries each, interleaved (and, with
    `hang`, one more webhook whose endpoint never answers, with as many deliveries)."""
    tag = ctx.tag("isohang" if hang else "iso")
    url = await fresh_db(ctx, topo.backend)
    try:
        owners = await create_accounts(url, [f"{ctx.receiver_url}/hook/{tag}"] * HEALTHY_WEBHOOKS)
        if hang:
            owners += await create_accounts(url, [f"{ctx.receiver_url}/hang/{tag}-hang"])
        await insert_deliveries(url, owners, per_webhook * len(owners))
        n = per_webhook * HEALTHY_WEBHOOKS
        measured = await drain(ctx, topo, url, tag, n, all_due=not hang)
        if hang:
            measured.extra["hang_attempts"] = (await ctx.receiver.stats(f"{tag}-hang"))["count"]
        return measured
    finally:
        await drop_db(ctx, url)


# -- scenario 2: latency at a steady report rate ---------------------------------------------


async def latency(ctx: Context, topo: Topology, rate: float, duration_s: float) -> Measured:
    """Steady carrier reports (`POST /carrier/v1/dlr`) → webhook arrival times."""
    tag = ctx.tag("lat")
    url = await fresh_db(ctx, topo.backend)
    env = {
        **ctx.env,
        "DLRHUB_SIMULATOR_DELAY_MS": "3600000",  # only our reports report
        "DLRHUB_CARRIER_TOKENS": f"bench:{ctx.carrier_token}",
    }
    try:
        (account,) = await create_accounts(url, [f"{ctx.receiver_url}/hook/{tag}"])
        deployment = await start_dlrhub(ctx.harness, topo, url, env, ctx.commands, tag)
        try:
            extra = await _report_and_time(ctx, deployment, account, tag, rate, duration_s)
        finally:
            usage = await deployment.stop()
        extra["shape"] = deployment.shape
        extra["tag"] = tag
        return Measured(extra.pop("delivery_rate"), extra["arrived"], usage, extra)
    finally:
        await drop_db(ctx, url)


async def _report_and_time(
    ctx: Context, deployment: Deployment, account: Account, tag: str, rate: float, duration_s: float
) -> dict[str, Any]:
    warm = 100
    total = int(rate * duration_s)
    cpu = time.process_time()
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(connector=connector) as session:
        api = Api(session, deployment.api_url, account.api_key, ctx.carrier_token)
        ids = await clone_messages(deployment.url, await api.send(0), warm + total)
        await api.report_steadily(ids[:warm], rate=min(rate, 100.0))
        await ctx.receiver.wait_for(tag, warm, stall_s=15)
        timings = await api.report_steadily(ids[warm:], rate=rate)
        accepted = {mid: (s, a) for mid, (s, a) in timings.items() if a is not None}
        await ctx.receiver.wait_for(tag, warm + len(accepted), stall_s=15)
    cpu = time.process_time() - cpu
    arrivals = await ctx.receiver.arrivals(tag)
    arrived = [arrivals[m] for m in accepted if m in arrivals]
    latencies = [(arrivals[m] - t[1]) * 1000 for m, t in accepted.items() if m in arrivals]
    from_sent = [(arrivals[m] - t[0]) * 1000 for m, t in accepted.items() if m in arrivals]
    sent = [t[0] for t in timings.values()]
    done = [t[1] for t in accepted.values()]
    return {
        "latencies_ms": latencies,
        "delivery_rate": len(arrived)
        / max(max(arrived, default=0) - min(arrived, default=0), 1e-9),
        "reports": total,
        "accepted": len(accepted),
        "arrived": len(latencies),
        "reports_sent_per_s": len(sent) / max(max(sent) - min(sent), 1e-9),
        "reports_accepted_per_s": len(done) / max(max(done, default=0) - min(sent), 1e-9),
        "from_report_sent_ms": percentiles(from_sent),
        "load_generator_cpu_s": cpu,
        "report_http_ms": percentiles([(t[1] - t[0]) * 1000 for t in accepted.values()]),
    }


class Api:
    """The customer's and the carrier's side of dlrhub's HTTP API."""

    def __init__(self, session: aiohttp.ClientSession, base: str, key: str, token: str) -> None:
        self.session, self.base = session, base
        self.key_headers = {"X-Api-Key": key}
        self.carrier_headers = {"Authorization": f"Bearer {token}"}

    async def send(self, i: int) -> str:
        body = {"destination": f"+39340{i % 10_000_000:07d}", "body": "bench", "simulation": True}
        async with self.session.post(
            f"{self.base}/api/message-server/sms/send", json=body, headers=self.key_headers
        ) as response:
            if response.status != 201:
                raise RuntimeError(f"send failed: {response.status} {await response.text()}")
            return str((await response.json())["messageId"])

    async def _report(self, message_id: str) -> tuple[float, float | None]:
        sent = time.time()
        async with self.session.post(
            f"{self.base}/carrier/v1/dlr",
            json={"messageId": message_id, "status": "DELIVERED"},
            headers=self.carrier_headers,
        ) as response:
            await response.read()
            return sent, (time.time() if response.status == 200 else None)

    async def report_steadily(
        self, ids: list[str], rate: float
    ) -> dict[str, tuple[float, float | None]]:
        """Open loop: report i is sent at start + i/rate whether or not earlier ones returned.
        Returns, per message id, (sent, accepted) wall-clock times; accepted None on error."""
        start = time.perf_counter()
        tasks = []
        for i, message_id in enumerate(ids):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._report(message_id)))
        results = await asyncio.gather(*tasks)
        return dict(zip(ids, results, strict=True))


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}
