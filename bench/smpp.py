"""The SMPP scenario (issue 11): real SMS through dlrhub's SMPP connector to the test SMSC.

Per row, a fresh SMSC (`tests/smsc/server.js`, node-smpp: an implementation independent of
dlrhub's codec) and a fresh database; dlrhub bound to the SMSC with `sessions=N`, the row's
window and a rate far above it, so the window is the limit. Messages are sent as a customer
sends them (`simulation: false`); the SMSC answers each `submit_sm` after `RESP_DELAY_MS` and
sends a DELIVRD receipt `RECEIPT_DELAY_MS` after it; dlrhub applies it and signs a DELIVERY
webhook to the receiver. Phases: a warm-up, a closed-loop burst (throughput), an open-loop
steady rate (latency). Then, with dlrhub stopped, the ceiling: dlrhub's own `SmppSession`
driven by a bare loop (same sessions, window and rate) against the same SMSC process.
Submit rates are read from the SMSC's events, by its clock, for dlrhub and the ceiling alike.
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
from dataclasses import dataclass
from typing import Any

import aiohttp
from deploy import Topology, start_dlrhub
from endtoend import create_key, set_webhook, summarise
from harness import BENCH_DIR, Harness, Proc, _die_with_parent
from loadgen import SEND_PATH, Client, burst, destination, steady
from scenarios import Context, _query, drop_db, fresh_db, wait_committed

from dlrhub.carriers.smpp_session import Incoming, SmppSession, SubmitPart
from dlrhub.domain.gsm import encode
from dlrhub.domain.smpp_binds import SmppBind, destination_address, source_address

SMSC_DIR = BENCH_DIR.parent / "tests" / "smsc"
SYSTEM_ID, PASSWORD, SENDER = "dlrhub", "secret", "BENCH"
WARMUP = 20  # messages before the burst: the sessions are bound and every path is warm
STATUSES = "SELECT status, count(*) FROM messages GROUP BY status"


@dataclass(frozen=True)
class SmppSizes:
    burst: int
    connections: int
    rate: float  # steady sends/s
    duration_s: float
    stall_s: float
    sessions: tuple[int, ...]
    window: int
    bind_rate: int  # the bind's `rate`: high, so that the window is the limit
    resp_delay_ms: int
    receipt_delay_ms: int
    quick: bool


class Smsc:
    """One `node tests/smsc/server.js`: registered with the harness (stopped with the rest),
    its stdin kept open (it exits when stdin ends), its stdout's JSON events kept as raw
    lines and parsed only when read, so a busy SMSC costs the bench's own loop little."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.port = 0
        self._lines: list[bytes] = []
        self._parsed: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    async def start(cls, harness: Harness, env: dict[str, str]) -> Smsc:
        smsc = cls(_spawn_smsc(harness, env))
        smsc.port = int((await smsc.wait_for("listening", 1, 15.0))[0]["port"])
        return smsc

    def _read(self) -> None:
        stdout = self.proc.popen.stdout
        assert stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in stdout:
                self._lines.append(line)  # list.append is atomic: no lock needed

    def mark(self) -> int:
        """Where the events stand now: `events(since=mark())` are the ones after this."""
        return len(self._lines)

    def events(self, kind: str, since: int = 0) -> list[dict[str, Any]]:
        lines = self._lines[: len(self._lines)]
        for line in lines[len(self._parsed) :]:
            self._parsed.append(json.loads(line))
        return [e for e in self._parsed[since : len(lines)] if e["event"] == kind]

    async def wait_for(
        self, kind: str, n: int, timeout_s: float, since: int = 0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(found := self.events(kind, since)) < n:
            if not self.proc.alive():
                raise RuntimeError(f"the SMSC exited: {self.proc.popen.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the SMSC saw {len(found)} {kind} of {n} in {timeout_s:g} s")
            await asyncio.sleep(0.05)
        return found

    def url(self, sessions: int, window: int, rate: int) -> str:
        query = f"sessions={sessions}&window={window}&rate={rate}"
        return f"smpp://{SYSTEM_ID}:{PASSWORD}@127.0.0.1:{self.port}?{query}"

    def submit_rate(self, since: int) -> dict[str, Any]:
        """The `submit_sm` the SMSC accepted after `since`: how many, per second by its clock
        (first submit_sm → last ESME_ROK submit_sm_resp), the most unanswered on one session."""
        submits = self.events("submit", since)
        answers = [e for e in self.events("submit_sm_resp", since) if e["status"] == 0]
        span_ms = max(answers[-1]["at_ms"] - submits[0]["at_ms"], 1) if answers else 1
        return {
            "accepted": len(answers),
            "refused": sum(1 for e in submits if e["status"] != 0),
            "per_s": 1000 * len(answers) / span_ms if answers else 0.0,
            "max_in_flight": max((e["in_flight"] for e in submits), default=0),
            "message_ids": [e["message_id"] for e in answers],
        }

    async def stop(self, harness: Harness) -> None:
        with contextlib.suppress(OSError):
            if self.proc.popen.stdin is not None:
                self.proc.popen.stdin.close()
        await harness.stop(self.proc, 5.0)


def _spawn_smsc(harness: Harness, env: dict[str, str]) -> Proc:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (apt-get install nodejs npm)")
    if not (SMSC_DIR / "node_modules" / "smpp" / "package.json").is_file():
        raise RuntimeError("the test SMSC's modules are missing: npm ci --prefix tests/smsc")
    log_path = harness.workdir / f"{len(harness.procs):02d}-smsc.log"
    with open(log_path, "wb") as stderr:
        popen = subprocess.Popen(
            [node, str(SMSC_DIR / "server.js")],
            env={**os.environ, **env, "PORT": "0"},
            stdin=subprocess.PIPE,  # kept open: the SMSC exits when its stdin ends
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    proc = Proc("smsc", popen, log_path, "smsc")
    harness.procs.append(proc)  # stopped with everything else, also on failure
    return proc


class RealSms(Client):
    """The end-to-end load generator's client, sending real SMS (`simulation: false`)."""

    async def send(self, i: int, which: int) -> tuple[str | None, float, float, int]:
        session, url = self.sessions[which], self.urls[which] + SEND_PATH
        body = {"destination": destination(i), "body": f"bench {i}", "simulation": False}
        sent = time.time()
        try:
            async with session.post(url, json=body, headers=self.headers) as response:
                answer = await response.json() if response.status == 201 else None
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None, sent, time.time(), 0
        ack = time.time()
        return (None if answer is None else str(answer["messageId"])), sent, ack, status


def smsc_env(sizes: SmppSizes) -> dict[str, str]:
    return {
        "SYSTEM_ID": SYSTEM_ID,
        "PASSWORD": PASSWORD,
        "RESP_DELAY_MS": str(sizes.resp_delay_ms),
        "RECEIPT_DELAY_MS": str(sizes.receipt_delay_ms),
    }


async def run_row(ctx: Context, topo: Topology, sessions: int, sizes: SmppSizes) -> dict[str, Any]:
    """dlrhub's run on a fresh SMSC and database, then the ceiling on the same SMSC."""
    smsc = await Smsc.start(ctx.harness, {**ctx.tool_env, **smsc_env(sizes)})
    try:
        result = await _dlrhub_run(ctx, topo, smsc, sessions, sizes)
        try:
            result["ceiling"] = await bare_sessions(smsc, sessions, sizes)
        except Exception as exc:  # the row keeps dlrhub's figures; the ceiling says why not
            result["ceiling"] = f"{type(exc).__name__}: {exc}"[:300]
        return result
    finally:
        await smsc.stop(ctx.harness)


async def _dlrhub_run(
    ctx: Context, topo: Topology, smsc: Smsc, sessions: int, sizes: SmppSizes
) -> dict[str, Any]:
    tag = ctx.tag("e2esmpp")  # the receiver records arrival times for tags starting "e2e"
    url = await fresh_db(ctx, topo.backend)
    try:
        key = await asyncio.to_thread(create_key, ctx.env, url)
        env = {
            **ctx.env,
            "DLRHUB_SMPP_BINDS": smsc.url(sessions, sizes.window, sizes.bind_rate),
            "DLRHUB_SMPP_DEFAULT_SENDER": SENDER,
        }
        deployment = await start_dlrhub(ctx.harness, topo, url, env, ctx.commands, tag)
        try:
            await set_webhook(deployment.api_urls[0], key, f"{ctx.receiver_url}/hook/{tag}")
            await smsc.wait_for("bind", sessions, 30.0)
            phases = Phases(ctx, smsc, deployment.api_urls, key, tag, sizes, url)
            cpu = sum(p.cpu_s() for p in deployment.procs)
            warmup = await phases.run("warm-up", burst_of=WARMUP)
            measured = [await phases.run("burst", burst_of=sizes.burst)]
            measured.append(await phases.run(f"steady {sizes.rate:g}/s", rate=sizes.rate))
            cpu = sum(p.cpu_s() for p in deployment.procs) - cpu
        finally:
            usage = await deployment.stop()
        statuses = dict(await _query(url, STATUSES))
    finally:
        await drop_db(ctx, url)
    stats = await ctx.receiver.stats(tag)
    accepted = sum(p["accepted"] for p in [warmup, *measured])
    return {
        "tag": tag,
        "shape": deployment.shape,
        "phases": [warmup, *measured],
        "statuses": statuses,
        "usage": usage,
        "cpu_ms_per_message": 1000 * cpu / max(accepted, 1),
        "duplicates": stats["count"] - stats["unique"],
    }


class Phases:
    """Sends each phase, waits for its webhooks, and measures it at the SMSC and receiver."""

    def __init__(
        self,
        ctx: Context,
        smsc: Smsc,
        api_urls: list[str],
        key: str,
        tag: str,
        sizes: SmppSizes,
        db_url: str,
    ) -> None:
        self.ctx, self.smsc, self.api_urls, self.key = ctx, smsc, api_urls, key
        self.tag, self.sizes, self.db_url = tag, sizes, db_url
        self.numbered = 0  # messages started so far (numbers their destinations)
        self.expected = 0  # accepted so far: distinct webhooks the receiver should have

    async def run(
        self, name: str, *, burst_of: int | None = None, rate: float | None = None
    ) -> dict[str, Any]:
        mark = self.smsc.mark()
        client = RealSms(self.api_urls, self.key, self.sizes.connections)
        try:
            if burst_of is not None:
                sends = await burst(client, self.numbered, burst_of, self.sizes.connections)
            else:
                assert rate is not None
                sends = await steady(client, self.numbered, rate, self.sizes.duration_s)
        finally:
            await client.close()
        self.numbered += len(sends.ids)
        self.expected += sum(1 for i in sends.ids if i is not None)
        stall = self.sizes.stall_s
        await self.ctx.receiver.wait_for(self.tag, self.expected, stall_s=stall, key="unique")
        await wait_committed(self.db_url, timeout_s=stall)  # the last webhooks are recorded
        summary = summarise(vars(sends), await self.ctx.receiver.arrivals(self.tag), rate)
        submits = self.smsc.submit_rate(mark)
        receipts = self.smsc.events("deliver_sm_resp", mark)
        summary.update(
            phase=name,
            smsc_submits=submits["accepted"],
            smsc_refused=submits["refused"],
            submits_per_s=submits["per_s"],
            max_in_flight=submits["max_in_flight"],
            receipts_acknowledged=sum(1 for e in receipts if e["status"] == 0),
            receipts_refused=sum(1 for e in receipts if e["status"] != 0),
        )
        return summary


async def bare_sessions(smsc: Smsc, sessions: int, sizes: SmppSizes) -> dict[str, Any]:
    """The ceiling: `sessions` of dlrhub's `SmppSession`, each kept `window` full by a bare
    loop, submitting `burst` parts built before the clock starts (no database, no HTTP);
    then waits for their receipts so none is left for a later bind."""
    bind = SmppBind(
        host="127.0.0.1",
        port=smsc.port,
        system_id=SYSTEM_ID,
        password=PASSWORD,
        tls=False,
        sessions=sessions,
        window=sizes.window,
        rate=sizes.bind_rate,
    )
    parts = [_part(i, bind) for i in range(sizes.burst)]

    async def acknowledge(_incoming: Incoming) -> None:
        return None

    opened = [await SmppSession.open(bind, on_deliver=acknowledge) for _ in range(sessions)]
    try:
        mark, queue, refused = smsc.mark(), iter(parts), 0
        cpu, started = time.process_time(), time.perf_counter()

        async def keep_full(session: SmppSession) -> None:
            nonlocal refused
            for part in queue:
                refused += (await session.submit(part)).command_status != 0

        await asyncio.gather(*(keep_full(s) for s in opened for _ in range(sizes.window)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        measured = smsc.submit_rate(mark)
        ids = set(measured.pop("message_ids"))
        await _receipts_back(smsc, mark, ids, sizes.stall_s)
    finally:
        await asyncio.gather(*(s.close() for s in opened))
    return {
        **measured,
        "refused_seen": refused,
        "client_per_s": len(parts) / elapsed,
        "client_cpu_ms_per_submit": 1000 * cpu / len(parts),
    }


def _part(i: int, bind: SmppBind) -> SubmitPart:
    """What dlrhub submits for the load generator's message `i` (one GSM part)."""
    (data,) = encode(f"bench {i}", 0).parts
    source, source_ton, source_npi = source_address(SENDER, bind)
    dest, dest_ton, dest_npi = destination_address(destination(i), bind)
    return SubmitPart(
        source_addr=source,
        source_ton=source_ton,
        source_npi=source_npi,
        destination_addr=dest,
        dest_ton=dest_ton,
        dest_npi=dest_npi,
        esm_class=0,
        data_coding=0,
        short_message=data,
    )


async def _receipts_back(smsc: Smsc, mark: int, ids: set[str], stall_s: float) -> None:
    deadline = time.monotonic() + stall_s
    while time.monotonic() < deadline:
        done = {e["id"] for e in smsc.events("deliver_sm_resp", mark) if e["status"] == 0}
        if ids <= done:
            return
        await asyncio.sleep(0.05)
