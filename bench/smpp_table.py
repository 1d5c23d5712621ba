"""The SMPP table (issue 11): its options, setups, rows and header.

One row per setup and bind: `dlrhub serve` on SQLite and on PostgreSQL, each bound with
`sessions=1` and `sessions=2`. A row has the burst's throughput (submit_sm/s accepted by the
SMSC, DELIVERY webhooks/s) with its ratio to the same-run bare-session ceiling, the steady
phase's latency from the send's 201 to the signed webhook, and what was lost (must be 0).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from deploy import Topology
from report import fmt_ms, fmt_num
from scenarios import Context
from smpp import WARMUP, SmppSizes, run_row
from suite import attempt, say

SETUPS = (Topology("sqlite", 1, serve=True), Topology("postgresql", 1, serve=True))

COLUMNS = (
    ("setup", "<"),
    ("bind", "<"),
    ("sent", ">"),
    ("submits/s", ">"),
    ("ceiling", ">"),
    ("ratio", ">"),
    ("in flight", ">"),
    ("receipts/s", ">"),
    ("p50 ms", ">"),
    ("p95 ms", ">"),
    ("p99 ms", ">"),
    ("lost", ">"),
    ("met", "<"),
)


@dataclass
class SmppRow:
    setup: str
    bind: str
    sent: int | None = None
    submits: float | None = None
    ceiling: float | None = None
    in_flight: int | None = None
    receipts: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    lost: int | None = None
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.submits is None or not self.ceiling:
            return None
        return self.submits / self.ceiling

    def cells(self) -> list[str]:
        return [
            self.setup,
            self.bind,
            "" if self.sent is None else f"{self.sent:,}",
            fmt_num(self.submits),
            fmt_num(self.ceiling),
            "" if self.ratio is None else f"{self.ratio:.2f}",
            "" if self.in_flight is None else str(self.in_flight),
            fmt_num(self.receipts),
            fmt_ms(self.p50),
            fmt_ms(self.p95),
            fmt_ms(self.p99),
            "" if self.lost is None else str(self.lost),
            {None: "", True: "yes", False: "NO"}[self.met],
        ]


def add_options(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group(
        "SMPP (scenario smpp; also uses --connections, --send-duration, --stall)"
    )
    s.add_argument("--smpp-burst", type=int, help="closed-loop real sends (5,000; quick 500)")
    s.add_argument("--smpp-rate", type=float, default=100.0, help="steady sends/s (100)")
    s.add_argument("--smpp-sessions", default="1,2", help="sessions= per row (%(default)s)")
    s.add_argument("--smpp-window", type=int, default=10, help="the bind's window (10)")
    s.add_argument("--smpp-resp-delay-ms", type=int, default=5, help="SMSC answer delay (5)")
    s.add_argument("--smpp-receipt-delay-ms", type=int, default=50, help="receipt delay (50)")


def sizes_of(
    a: argparse.Namespace, connections: int, duration_s: float, stall_s: float
) -> SmppSizes:
    return SmppSizes(
        burst=a.smpp_burst or (500 if a.quick else 5_000),
        connections=connections,
        rate=a.smpp_rate,
        duration_s=duration_s,
        stall_s=stall_s,
        sessions=tuple(int(x) for x in a.smpp_sessions.split(",") if x),
        window=a.smpp_window,
        bind_rate=10_000,  # the highest a bind allows: the window is the limit
        resp_delay_ms=a.smpp_resp_delay_ms,
        receipt_delay_ms=a.smpp_receipt_delay_ms,
        quick=a.quick,
    )


def setups(backends: list[str]) -> list[Topology]:
    return [t for t in SETUPS if t.backend in backends]


async def run_smpp(ctx: Context, topo: Topology, sizes: SmppSizes) -> list[SmppRow]:
    rows = []
    for sessions in sizes.sessions:
        bind = f"sessions={sessions} window={sizes.window} rate={sizes.bind_rate}"
        result = await attempt(topo, f"SMPP {bind}", run_row(ctx, topo, sessions, sizes))
        if isinstance(result, str):
            say(topo, f"SMPP {bind} failed: {result}")
            rows.append(SmppRow(topo.label, bind, met=False, details={"error": result}))
            continue
        row = _row(topo, bind, result)
        say(topo, f"SMPP {bind}: {', '.join(c for c in row.cells()[2:12] if c)}")
        rows.append(row)
    return rows


def _row(topo: Topology, bind: str, result: dict[str, Any]) -> SmppRow:
    warmup, burst, steady = result["phases"]
    sent = burst["accepted"] + steady["accepted"]
    row = SmppRow(
        topo.label,
        bind,
        sent=sent,
        submits=burst["submits_per_s"],
        in_flight=burst["max_in_flight"],
        receipts=burst["webhooks_per_s"],
        p50=steady["latency_ms"]["p50"],
        p95=steady["latency_ms"]["p95"],
        p99=steady["latency_ms"]["p99"],
        lost=burst["lost"] + steady["lost"],
        details=result,
    )
    ceiling = result["ceiling"]
    if isinstance(ceiling, str):
        row.notes.append(f"no ceiling: {ceiling}")
    else:
        row.ceiling = ceiling["per_s"]
    total = warmup["accepted"] + sent
    delivered = result["statuses"].get("DELIVERED", 0)
    checks = [
        (row.lost == 0 and steady["arrived"] > 0, f"{row.lost} sent messages had no webhook"),
        (
            warmup["refused"] + burst["refused"] + steady["refused"] == 0,
            f"sends refused: {burst['statuses']} {steady['statuses']}",
        ),
        (
            delivered == total,
            f"{delivered} of {total} messages DELIVERED in the database: {result['statuses']}",
        ),
    ]
    row.met = all(ok for ok, _ in checks)
    row.notes += [f"missed: {why}" for ok, why in checks if not ok]
    if result["duplicates"]:
        row.notes.append(f"the receiver saw {result['duplicates']} duplicate webhooks")
    return row


def header(sizes: SmppSizes, source: str) -> list[str]:
    per_session = sizes.window * 1000 / max(sizes.resp_delay_ms, 1)
    return [
        f"dlrhub SMPP benchmark{' (--quick)' if sizes.quick else ''} · {source}",
        "SMSC: tests/smsc/server.js (node-smpp), fresh per row, answers each submit_sm after "
        f"RESP_DELAY_MS={sizes.resp_delay_ms} ms and sends a DELIVRD receipt "
        f"RECEIPT_DELAY_MS={sizes.receipt_delay_ms} ms after it;",
        f"bind: DLRHUB_SMPP_BINDS's sessions, window and rate (the rate is above what the window "
        f"allows: window / answer delay = {per_session:,.0f} submit_sm/s per session).",
        "Each message: POST /api/message-server/sms/send (X-Api-Key, JSON, simulation: false, "
        f"sender from DLRHUB_SMPP_DEFAULT_SENDER); warm-up {WARMUP} (JSON only), burst "
        f"{sizes.burst:,} (closed loop, {sizes.connections} connections), then "
        f"{sizes.rate:,.0f} sends/s open loop for {sizes.duration_s:g} s.",
        "submits/s: burst, submit_sm answered ESME_ROK per second by the SMSC's clock (first "
        "submit_sm → last response); ceiling: dlrhub's SmppSession in a bare loop (no database, "
        "no HTTP), same sessions, window and SMSC, right after;",
        "in flight: most submit_sm unanswered on one session (the window used); receipts/s: "
        "burst, DELIVERY webhooks per second at the receiver (first → last arrival);",
        "p50/p95/p99: steady phase, send's 201 → signed webhook's arrival; sent: burst + steady "
        f"201s; lost: 201s without a webhook after {sizes.stall_s:g} s without progress. "
        "met: 0 lost, no send refused, every message DELIVERED.",
    ]
