"""The ordering table (issue 13 item 1): what per-message order costs the dispatcher.

Per setup (the dispatch table's: SQLite x1, PostgreSQL x1, x2), the same backlog twice, on a
fresh database each: `--backlog` due deliveries to one webhook, the DELIVERY (sequence 1) and
READ (sequence 2) of `--backlog / 2` WhatsApp messages, every READ due right behind its
DELIVERY. Once with the webhook's `ordering` = 'message' (the default: a READ is not claimed
while its DELIVERY is still to send), once with 'none'; deliveries/s of each, the cost
(1 - message/none) against the issue's target (at most 10 %), and how many READs reached the
receiver before their DELIVERY (must be 0 with 'message').

The webhooks here post to an order-checking receiver (`python bench/ordering.py --receiver`,
its own process): the bench's receiver, which also reads each body's `messageId` and
`sequence` and counts an arrival as out of order when an earlier sequence of its message has
not arrived yet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from deploy import ReceiverClient, Topology
from harness import BENCH_DIR, Harness
from receiver import Receiver
from scenarios import Context, Measured, drain, drop_db, fresh_db
from seeding import create_accounts, insert_deliveries
from sqlalchemy import update

from dlrhub.store.engine import create_engine
from dlrhub.store.schema import webhooks

COST_TARGET = 0.10  # issue 13: ordering may cost at most 10 % of the throughput
MODES = ("message", "none")

COLUMNS = (
    ("setup", "<"),
    ("backlog", "<"),
    ("message dlv/s", ">"),
    ("none dlv/s", ">"),
    ("cost", ">"),
    ("out of order", ">"),
    ("CPU ms/dlv", ">"),
    ("target", "<"),
    ("met", "<"),
)


@dataclass
class OrderingRow:
    setup: str
    backlog: int
    ordered: float | None = None  # deliveries/s with ordering 'message'
    unordered: float | None = None  # with ordering 'none'
    out_of_order: dict[str, int] = field(default_factory=dict)  # per mode
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per mode, per delivery
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cost(self) -> float | None:
        if self.ordered is None or not self.unordered:
            return None
        return 1 - self.ordered / self.unordered

    def cells(self) -> list[str]:
        def both(values: dict[str, Any], form: str) -> str:
            if not values:
                return ""
            return " / ".join(format(values[m], form) if m in values else "?" for m in MODES)

        return [
            self.setup,
            f"{self.backlog:,} due ({self.backlog // 2:,} msgs x 2)",
            "" if self.ordered is None else f"{self.ordered:,.0f}",
            "" if self.unordered is None else f"{self.unordered:,.0f}",
            "" if self.cost is None else f"{self.cost:+.1%}",
            both(self.out_of_order, "d"),
            both(self.cpu_ms, ".2f"),
            "error" if "error" in self.details else f"cost ≤{COST_TARGET:.0%}, 0 out of order",
            {None: "", True: "yes", False: "NO"}[self.met],
        ]


def header(backlog: int, repeat: int, source_line: str) -> list[str]:
    return [
        f"dlrhub ordering benchmark (issue 13) · {source_line}",
        f"Backlog: {backlog:,} due deliveries to one webhook = {backlog // 2:,} WhatsApp "
        "messages x (DELIVERY sequence 1, READ sequence 2), each READ due right behind its "
        "DELIVERY;",
        "seeded into the tables as dlrhub writes them; the same backlog run with the webhook's "
        "ordering = 'message', then 'none', each on a fresh database"
        + (f" (median of {repeat}, alternating)." if repeat > 1 else "."),
        "dlv/s: arrivals / (last - first arrival); cost: 1 - message/none; out of order: "
        "arrivals before an earlier sequence of their message (message / none);",
        "CPU ms/dlv: CPU time of all dlrhub processes per delivery (message / none).",
    ]


# -- the order-checking receiver (its own process) -------------------------------------------


class OrderReceiver(Receiver):
    """The bench's receiver that also checks each message's sequences arrive in order."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, dict[str, set[int]]] = {}  # tag -> message -> sequences
        self.out_of_order: dict[str, int] = {}

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        tag = request.match_info["tag"]
        self.tally(tag).hit(time.time(), request.headers.get("webhook-id"))
        try:
            data = json.loads(body)
            message_id, sequence = str(data["messageId"]), int(data["sequence"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=200)
        seen = self.seen.setdefault(tag, {}).setdefault(message_id, set())
        if any(earlier not in seen for earlier in range(1, sequence)):
            self.out_of_order[tag] = self.out_of_order.get(tag, 0) + 1
        seen.add(sequence)
        return web.Response(status=200)

    async def order(self, request: web.Request) -> web.Response:
        tag = request.match_info["tag"]
        by_message = self.seen.get(tag, {})
        return web.json_response(
            {
                "messages": len(by_message),
                "complete": sum(1 for s in by_message.values() if s == {1, 2}),
                "out_of_order": self.out_of_order.get(tag, 0),
            }
        )


async def serve_receiver() -> None:
    receiver = OrderReceiver()
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/hook/{tag}", receiver.hook)
    app.router.add_get("/stats", receiver.stats)
    app.router.add_get("/order/{tag}", receiver.order)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


class OrderClient(ReceiverClient):
    async def order(self, tag: str) -> dict[str, int]:
        result: dict[str, int] = await self._get(f"/order/{tag}")
        return result


async def start_order_receiver(harness: Harness, env: dict[str, str]) -> str:
    argv = [sys.executable, str(BENCH_DIR / "ordering.py"), "--receiver"]
    proc = harness.spawn("order-receiver", argv, env=env, role="receiver", pipe=True)
    assert proc.popen.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.popen.stdout.readline), 30)
    if not line.startswith(b"PORT "):
        raise RuntimeError(f"order receiver did not start: {line!r}")
    return f"http://127.0.0.1:{int(line.split()[1])}"


# -- the scenario ---------------------------------------------------------------------------


async def set_ordering(url: str, mode: str) -> None:
    """The webhook's `ordering` (the delivery-status webhook has no API for it: only richer
    webhooks do, and no single richer webhook gets both a DELIVERY and a READ)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(webhooks).values(ordering=mode))
    finally:
        await engine.dispose()


async def one_run(ctx: Context, client: OrderClient, topo: Topology, n: int, mode: str) -> Measured:
    """Seed the backlog on a fresh database, set `ordering`, drain it, count disorder."""
    tag = ctx.tag(f"order-{mode}-")
    url = await fresh_db(ctx, topo.backend)
    try:
        accounts = await create_accounts(url, [f"{ctx.receiver_url}/hook/{tag}"])
        await insert_deliveries(url, accounts, n, read_after_delivery=True)
        await set_ordering(url, mode)
        measured = await drain(ctx, topo, url, tag, n)
        measured.extra.update(await client.order(tag), ordering=mode)
        return measured
    finally:
        await drop_db(ctx, url)


async def run_setup(
    ctx: Context, client: OrderClient, topo: Topology, n: int, repeat: int
) -> OrderingRow:
    """Both modes `repeat` times, alternating which goes first (a shared machine's load
    drifts); each mode's median run."""
    runs: dict[str, list[Measured]] = {mode: [] for mode in MODES}
    for i in range(repeat):
        for mode in MODES if i % 2 == 0 else MODES[::-1]:
            runs[mode].append(await one_run(ctx, client, topo, n, mode))
    chosen = {mode: _median(found) for mode, found in runs.items()}
    row = OrderingRow(topo.label, n, chosen["message"].rate, chosen["none"].rate)
    row.out_of_order = {m: int(c.extra["out_of_order"]) for m, c in chosen.items()}
    row.cpu_ms = {m: float(c.extra["cpu_ms_per_delivery"]) for m, c in chosen.items()}
    row.details = {
        m: {"count": c.count, "usage": c.usage, **c.extra, "repeats": [r.rate for r in runs[m]]}
        for m, c in chosen.items()
    }
    complete = all(c.count >= n and c.extra["complete"] == n // 2 for c in chosen.values())
    cost = row.cost if row.cost is not None else 1.0
    row.met = complete and row.out_of_order["message"] == 0 and cost <= COST_TARGET
    row.notes = _notes(row, chosen, n)
    return row


def _median(runs: Sequence[Measured]) -> Measured:
    """The run with the median rate (the upper one of an even count, as suite.median_of)."""
    return sorted(runs, key=lambda m: m.rate)[len(runs) // 2]


def _notes(row: OrderingRow, chosen: dict[str, Measured], n: int) -> list[str]:
    notes = []
    for mode, measured in chosen.items():
        if measured.count < n or measured.extra["complete"] < n // 2:
            notes.append(
                f"ordering {mode}: {measured.count:,} of {n:,} deliveries arrived "
                f"({measured.extra['complete']:,} of {n // 2:,} messages complete)"
            )
    if row.out_of_order.get("message"):
        notes.append(f"{row.out_of_order['message']} READs arrived before their DELIVERY")
    if row.cost is not None and row.cost > COST_TARGET:
        notes.append(
            f"ordering costs {row.cost:.1%} of the throughput, above the {COST_TARGET:.0%} "
            "target (run on a quiet machine with --repeat 3 before concluding)"
        )
    return notes


async def run_ordering(
    ctx: Context, topologies: Sequence[Topology], n: int, repeat: int
) -> list[OrderingRow]:
    """The table's rows: one per setup. A failed setup becomes a row saying so."""
    base = await start_order_receiver(ctx.harness, ctx.tool_env or ctx.env)
    rows = []
    client = OrderClient(base)
    async with client:
        own = replace(ctx, receiver_url=base, receiver=client)
        for topo in topologies:
            _say(topo, f"ordering: {n:,} due, message vs none …")
            try:
                row = await run_setup(own, client, topo, n, repeat)
            except Exception as exc:  # the other setups still run; the row says why
                error = f"{type(exc).__name__}: {exc}"[:300]
                row = OrderingRow(topo.label, n, met=False, details={"error": error})
                row.notes.append(error)
            _say(topo, f"ordering: {row.cells()[2]} vs {row.cells()[3]} dlv/s")
            rows.append(row)
    return rows


def _say(topo: Topology, message: str) -> None:
    now = datetime.now(UTC)
    print(f"[{now:%H:%M:%S}] {topo.label}: {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receiver", action="store_true", required=True)
    parser.parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    with runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(serve_receiver())


if __name__ == "__main__":
    main()
