"""The WhatsApp ingest scenario (issue 12): Meta's status notifications posted to
`/carrier/v1/whatsapp`, timed to the customer's DELIVERY webhooks.

Per setup, on a fresh database: an account with a WhatsApp number (its Meta phone_number_id),
`dlrhub serve` with the WhatsApp Cloud API pointed at the stand-in (`tests/standins/
whatsapp_cloud.py`, its own process) whose own notifications go to a sink on the receiver, so
that only this load generator posts statuses. Every message is sent as a customer sends it
(`simulation: false`); the stand-in's `send` events give each one's wamid, and the bench waits
until dlrhub has stored them all (`carrier_parts`). Then, per batch size (1 and 100 statuses a
notification): a closed-loop burst (throughput) and an open-loop steady phase (latency) of
signed `delivered` notifications, each for messages no earlier notification named. The
ceiling, in the same run: the same notifications to a bare aiohttp endpoint (`python
bench/ingest.py --ceiling-server`, its own process) that checks the same HMAC and parses the
same JSON, without a database: what taking the notifications alone costs here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
from deploy import Topology, start_dlrhub
from endtoend import set_webhook, summarise
from harness import BENCH_DIR, Harness, Proc
from loadgen import Client, burst, destination, steady
from scenarios import Context, _query, drop_db, fresh_db, percentiles, wait_committed

INGEST_PATH = "/carrier/v1/whatsapp"
WA_SEND_PATH = "/api/message-server/whatsapp/send"
WABA_NUMBER, PHONE_NUMBER_ID = "+15550783881", "106540352242922"
TOKEN, APP_SECRET = "bench-wa-token", "bench-wa-app-secret"
WARMUP = 20  # notifications of one status before the first burst: every path is warm
STATUSES = "SELECT status, count(*) FROM messages GROUP BY status"
PARTS = "SELECT count(*) FROM carrier_parts"


@dataclass(frozen=True)
class IngestSizes:
    batches: tuple[int, ...]  # statuses per notification, one row each
    burst: int  # statuses per burst (burst / batch notifications)
    rate: float  # steady statuses/s (rate / batch notifications/s)
    duration_s: float
    connections: int  # concurrent notifications in a burst
    stall_s: float
    quick: bool

    def notifications(self, batch: int, phase: str) -> int:
        statuses = self.burst if phase == "burst" else int(self.rate * self.duration_s)
        return max(1, statuses // batch)

    def messages(self) -> int:
        """Messages to seed: a status each, warm-up included."""
        phases = ("burst", "steady")
        return WARMUP + sum(self.notifications(b, p) * b for b in self.batches for p in phases)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notification(wamids: list[tuple[str, str]]) -> bytes:
    """Meta's webhook body for `delivered` statuses of (wamid, recipient) (the stand-in's
    shape: conversation and pricing included, so the body has Meta's size)."""
    now = str(int(time.time()))
    statuses = [
        {
            "id": wamid,
            "status": "delivered",
            "timestamp": now,
            "recipient_id": to,
            "conversation": {
                "id": hashlib.sha256(to.encode()).hexdigest()[:32],
                "origin": {"type": "service"},
            },
            "pricing": {"billable": False, "pricing_model": "PMP", "category": "service"},
        }
        for wamid, to in wamids
    ]
    metadata = {"display_phone_number": WABA_NUMBER[1:], "phone_number_id": PHONE_NUMBER_ID}
    value = {"messaging_product": "whatsapp", "metadata": metadata, "statuses": statuses}
    change = {"value": value, "field": "messages"}
    envelope = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    return json.dumps(envelope, separators=(",", ":")).encode()


class Notifier(Client):
    """Posts prebuilt signed notifications (built before the clock starts); `send(i)` posts
    the i-th and returns its number as the id (None unless 200) and keeps its answer."""

    def __init__(self, url: str, bodies: list[bytes], connections: int) -> None:
        super().__init__([url], "", connections)
        self.headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        self.bodies = [(body, sign(body)) for body in bodies]
        self.answers: dict[int, dict[str, int]] = {}

    async def send(self, i: int, which: int) -> tuple[str | None, float, float, int]:
        body, signature = self.bodies[i]
        headers = {**self.headers, "X-Hub-Signature-256": signature}
        sent = time.time()
        try:
            async with self.sessions[0].post(self.urls[0], data=body, headers=headers) as answer:
                found = await answer.json() if answer.status == 200 else None
                status = answer.status
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None, sent, time.time(), 0
        ack = time.time()
        if found is None:
            return None, sent, ack, status
        self.answers[i] = dict(found.get("statuses", {}))
        return str(i), sent, ack, status


class StandIn:
    """The WhatsApp Cloud API stand-in, its `send` events read from stdout by a thread."""

    def __init__(self, proc: Proc) -> None:
        self.proc, self.port = proc, 0
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    async def start(cls, harness: Harness, env: dict[str, str], sink_url: str) -> StandIn:
        argv = [sys.executable, "-m", "tests.standins.whatsapp_cloud", "--port", "0"]
        argv += ["--token", TOKEN, "--app-secret", APP_SECRET, "--notify-url", sink_url]
        argv += ["--status-delay-ms", "0"]
        path = os.pathsep.join(filter(None, [str(BENCH_DIR.parent), env.get("PYTHONPATH")]))
        proc = harness.spawn(
            "wa-standin", argv, env={**env, "PYTHONPATH": path}, role="standin", pipe=True
        )
        standin = cls(proc)
        standin.port = int((await standin.wait_for("listening", 1, 15.0))[0]["port"])
        return standin

    def _read(self) -> None:
        stdout = self.proc.popen.stdout
        assert stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in stdout:
                self.events.append(json.loads(line))

    async def wait_for(self, kind: str, n: int, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(found := [e for e in list(self.events) if e["event"] == kind]) < n:
            if not self.proc.alive():
                raise RuntimeError(f"the WhatsApp stand-in exited: {self.proc.popen.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the stand-in saw {len(found)} {kind} of {n} in {timeout_s:g} s"
                )
            await asyncio.sleep(0.05)
        return found


class WhatsAppSends(Client):
    """The end-to-end load generator's client, sending real WhatsApp (`simulation: false`)."""

    async def send(self, i: int, which: int) -> tuple[str | None, float, float, int]:
        body = {
            "destination": destination(i),
            "phoneNumberId": WABA_NUMBER,
            "body": f"wa bench {i}",
            "simulation": False,
        }
        sent = time.time()
        try:
            async with self.sessions[0].post(
                self.urls[0] + WA_SEND_PATH, json=body, headers=self.headers
            ) as r:
                answer = await r.json() if r.status == 201 else None
                status = r.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None, sent, time.time(), 0
        return (None if answer is None else str(answer["messageId"])), sent, time.time(), status


def create_account(env: dict[str, str], url: str) -> str:
    """An account (`dlrhub accounts create --json`) owning the WhatsApp number with its Meta
    phone_number_id (`dlrhub accounts add-waba`); returns its API key."""
    child_env = {**env, "DLRHUB_DATABASE_URL": url}
    cli = [sys.executable, "-m", "dlrhub", "accounts"]
    created = json.loads(_cli([*cli, "create", f"bench-wa-{time.time_ns()}", "--json"], child_env))
    waba = [*cli, "add-waba", created["accountId"], WABA_NUMBER]
    _cli([*waba, "--meta-phone-number-id", PHONE_NUMBER_ID], child_env)
    return str(created["apiKey"])


def _cli(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[2:5])} failed: {done.stdout}{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Seeded:
    message_id: str
    wamid: str
    to: str


async def seed(
    standin: StandIn, api_url: str, key: str, db_url: str, sizes: IngestSizes
) -> list[Seeded]:
    """Every message the phases need, sent for real through dlrhub to the stand-in; returns
    them once dlrhub has stored every wamid (so no status can arrive before its message)."""
    n = sizes.messages()
    client = WhatsAppSends([api_url], key, sizes.connections)
    try:
        sends = await burst(client, 0, n, sizes.connections)
    finally:
        await client.close()
    if any(i is None for i in sends.ids):
        refused = [s for s, i in zip(sends.status, sends.ids, strict=True) if i is None]
        raise RuntimeError(f"{len(refused)} of {n} WhatsApp sends refused: {refused[:5]}")
    sent = await standin.wait_for("send", n, sizes.stall_s + n / 50)
    by_body = {e["body"]: (e["wamid"], e["to"]) for e in sent if e["http_status"] == 200}
    deadline = time.monotonic() + sizes.stall_s
    while (await _query(db_url, PARTS))[0][0] < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"dlrhub stored {(await _query(db_url, PARTS))[0][0]} of {n} wamids")
        await asyncio.sleep(0.1)
    return [Seeded(str(m), *by_body[f"wa bench {i}"]) for i, m in enumerate(sends.ids)]


class Phases:
    """Posts each phase's notifications, each for messages no earlier one named, waits for
    their webhooks, and measures them at the load generator and the receiver."""

    def __init__(
        self,
        ctx: Context,
        urls: tuple[str, str],
        tag: str,
        seeded: list[Seeded],
        sizes: IngestSizes,
    ) -> None:
        self.ctx, (self.url, self.db_url), self.tag, self.sizes = ctx, urls, tag, sizes
        self.seeded, self.used = seeded, 0
        self.expected = 0  # distinct webhooks the receiver should have so far

    def take(self, batch: int, count: int) -> list[list[Seeded]]:
        """The next `count` notifications' messages, `batch` each."""
        start, self.used = self.used, self.used + batch * count
        if self.used > len(self.seeded):
            raise RuntimeError(f"only {len(self.seeded)} messages seeded, {self.used} needed")
        return [self.seeded[start + k * batch : start + (k + 1) * batch] for k in range(count)]

    async def run(
        self, name: str, batch: int, count: int, rate: float | None = None
    ) -> dict[str, Any]:
        groups = self.take(batch, count)
        client = Notifier(
            self.url,
            [notification([(s.wamid, s.to) for s in g]) for g in groups],
            self.sizes.connections,
        )
        try:
            if rate is None:
                sends = await burst(client, 0, count, min(self.sizes.connections, count))
            else:  # `count` notifications at `rate` statuses/s (the epsilon: not one fewer)
                per_s = rate / batch
                sends = await steady(client, 0, per_s, count / per_s * (1 + 1e-9))
        finally:
            await client.close()
        self.expected += sum(
            len(g) for g, i in zip(groups, sends.ids, strict=True) if i is not None
        )
        await self.ctx.receiver.wait_for(
            self.tag, self.expected, stall_s=self.sizes.stall_s, key="unique"
        )
        await wait_committed(self.db_url, timeout_s=self.sizes.stall_s)
        return measure(
            name,
            batch,
            groups,
            vars(sends),
            client.answers,
            await self.ctx.receiver.arrivals(self.tag),
            rate,
        )


def measure(
    name: str,
    batch: int,
    groups: list[list[Seeded]],
    sends: dict[str, Any],
    answers: dict[int, dict[str, int]],
    arrivals: dict[str, float],
    rate: float | None,
) -> dict[str, Any]:
    """The phase's figures: per notification (rate, the 200's latency, the answers' counts)
    and, through `summarise`, per status (its notification's times, its webhook's arrival)."""
    per_status: dict[str, list[Any]] = {"ids": [], "sent": [], "ack": [], "status": []}
    for group, *times in zip(
        groups, sends["ids"], sends["sent"], sends["ack"], sends["status"], strict=True
    ):
        accepted = times[0] is not None
        for seeded in group:
            per_status["ids"].append(seeded.message_id if accepted else None)
            for key, value in zip(("sent", "ack", "status"), times[1:], strict=True):
                per_status[key].append(value)
    summary = summarise(per_status, arrivals, rate)
    ok = [
        (s, a)
        for i, s, a in zip(sends["ids"], sends["sent"], sends["ack"], strict=True)
        if i is not None
    ]
    span = max((a for _, a in ok), default=0.0) - min(sends["sent"], default=0.0)
    applied: Counter[str] = Counter()
    for counts in answers.values():
        applied.update(counts)
    summary.update(
        phase=name,
        batch=batch,
        notifications=len(groups),
        notifications_ok=len(ok),
        notifications_per_s=len(ok) / max(span, 1e-9),
        statuses_per_s=applied.get("applied", 0) / max(span, 1e-9),
        answered={outcome: n for outcome, n in applied.items() if n},  # dlrhub writes zeros
        answer_ms=percentiles([(a - s) * 1000 for s, a in ok]),
    )
    return summary


async def run_setup(ctx: Context, topo: Topology, sizes: IngestSizes) -> dict[str, Any]:
    """dlrhub's phases for every batch size on one fresh database and stand-in, then the
    ceiling's bursts with the same notifications."""
    tag = ctx.tag("e2ewa")  # the receiver records arrival times for tags starting "e2e"
    standin = await StandIn.start(
        ctx.harness, ctx.tool_env or ctx.env, f"{ctx.receiver_url}/hook/{tag}-sink"
    )
    url = await fresh_db(ctx, topo.backend)
    try:
        key = await asyncio.to_thread(create_account, ctx.env, url)
        env = {
            **ctx.env,
            "DLRHUB_WHATSAPP_API_URL": f"http://127.0.0.1:{standin.port}/v21.0",
            "DLRHUB_WHATSAPP_TOKEN": TOKEN,
            "DLRHUB_WHATSAPP_APP_SECRET": APP_SECRET,
        }
        deployment = await start_dlrhub(ctx.harness, topo, url, env, ctx.commands, tag)
        try:
            api = deployment.api_urls[0]
            await set_webhook(api, key, f"{ctx.receiver_url}/hook/{tag}")
            seeded = await seed(standin, api, key, url, sizes)
            before = (await ctx.receiver.stats(tag))["count"]  # webhooks of the sends: none
            phases = Phases(ctx, (api + INGEST_PATH, url), tag, seeded, sizes)
            cpu = sum(p.cpu_s() for p in deployment.procs)
            warmup = await phases.run("warm-up", 1, WARMUP)
            rows = {b: await _batch(phases, b, sizes) for b in sizes.batches}
            cpu = sum(p.cpu_s() for p in deployment.procs) - cpu
        finally:
            usage = await deployment.stop()
        statuses = dict(await _query(url, STATUSES))
    finally:
        await drop_db(ctx, url)
        await ctx.harness.stop(standin.proc, 5.0)
    posted = phases.used
    stats = await ctx.receiver.stats(tag)
    result: dict[str, Any] = {
        "tag": tag,
        "shape": deployment.shape,
        "seeded": len(seeded),
        "webhooks_before": before,
        "warmup": warmup,
        "batches": rows,
        "statuses": statuses,
        "usage": usage,
        "cpu_ms_per_status": 1000 * cpu / max(posted, 1),
        "duplicates": stats["count"] - stats["unique"],
    }
    try:
        result["ceiling"] = await ceiling(ctx, seeded, sizes)
    except Exception as exc:  # the rows keep dlrhub's figures; the ceiling says why not
        result["ceiling"] = f"{type(exc).__name__}: {exc}"[:300]
    return result


async def _batch(phases: Phases, batch: int, sizes: IngestSizes) -> dict[str, Any]:
    burst_n, steady_n = sizes.notifications(batch, "burst"), sizes.notifications(batch, "steady")
    return {
        "burst": await phases.run(f"burst x{batch}", batch, burst_n),
        "steady": await phases.run(f"steady x{batch}", batch, steady_n, rate=sizes.rate),
    }


async def ceiling(ctx: Context, seeded: list[Seeded], sizes: IngestSizes) -> dict[int, Any]:
    """Per batch size, the burst's notifications (same sizes, same concurrency) posted to the
    bare endpoint: notifications/s and statuses/s by the same clock as dlrhub's."""
    argv = [sys.executable, str(BENCH_DIR / "ingest.py"), "--ceiling-server"]
    proc = ctx.harness.spawn(
        "ingest-ceiling", argv, env=ctx.tool_env or ctx.env, role="ceiling", pipe=True
    )
    try:
        assert proc.popen.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.popen.stdout.readline), 30)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"the ceiling endpoint did not start: {line!r}")
        url = f"http://127.0.0.1:{int(line.split()[1])}{INGEST_PATH}"
        found = {}
        for batch in sizes.batches:
            count = sizes.notifications(batch, "burst")
            groups = [seeded[k * batch : (k + 1) * batch] for k in range(count)]
            client = Notifier(
                url, [notification([(s.wamid, s.to) for s in g]) for g in groups], sizes.connections
            )
            try:
                sends = await burst(client, 0, count, min(sizes.connections, count))
            finally:
                await client.close()
            found[batch] = measure(
                f"ceiling x{batch}", batch, groups, vars(sends), client.answers, {}, None
            )
        return found
    finally:
        await ctx.harness.stop(proc, 5.0)


# -- the ceiling's endpoint (its own process) --------------------------------------------------


async def bare_notify(request: Any) -> Any:
    """What any WhatsApp endpoint must do before its own work: read the raw body, check the
    signature in constant time, parse the JSON and walk its statuses."""
    from aiohttp import web

    body = await request.read()
    given = request.headers.get("X-Hub-Signature-256", "")
    if not hmac.compare_digest(sign(body).encode(), given.encode("ascii", "replace")):
        return web.json_response({"error": "signature"}, status=401)
    document = json.loads(body)
    count = sum(
        len(change.get("value", {}).get("statuses", []))
        for entry in document.get("entry", [])
        for change in entry.get("changes", [])
    )
    return web.json_response({"statuses": {"applied": count}, "replies": {}})


async def serve_ceiling() -> None:
    from aiohttp import web

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post(INGEST_PATH, bare_notify)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    from common import run

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ceiling-server", action="store_true", required=True)
    parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run(serve_ceiling())
