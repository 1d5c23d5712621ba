"""The WhatsApp ingest table (issue 12): its options, setups, rows and header.

One row per setup and batch size: `dlrhub serve` on SQLite and on PostgreSQL, notifications of
1 and of 100 `delivered` statuses posted to `/carrier/v1/whatsapp`. A row has the burst's
notifications/s and statuses/s applied with the ratio to the same-run bare endpoint, the 200's
p99, the steady phase's latency from the notification being posted to the DELIVERY webhook,
and the statuses that had no webhook (must be 0).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from deploy import Topology
from ingest import WARMUP, IngestSizes, run_setup
from report import fmt_ms, fmt_num
from scenarios import Context
from suite import attempt, say

SETUPS = (Topology("sqlite", 1, serve=True), Topology("postgresql", 1, serve=True))

COLUMNS = (
    ("setup", "<"),
    ("batch", "<"),
    ("statuses", ">"),
    ("notif/s", ">"),
    ("statuses/s", ">"),
    ("ceiling", ">"),
    ("ratio", ">"),
    ("200 p99", ">"),
    ("p50 ms", ">"),
    ("p95 ms", ">"),
    ("p99 ms", ">"),
    ("lost", ">"),
    ("met", "<"),
)


@dataclass
class IngestRow:
    setup: str
    batch: str
    statuses: int | None = None
    notifications: float | None = None
    applied: float | None = None
    ceiling: float | None = None
    answer_p99: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    lost: int | None = None
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.notifications is None or not self.ceiling:
            return None
        return self.notifications / self.ceiling

    def cells(self) -> list[str]:
        return [
            self.setup,
            self.batch,
            "" if self.statuses is None else f"{self.statuses:,}",
            fmt_num(self.notifications),
            fmt_num(self.applied),
            fmt_num(self.ceiling),
            "" if self.ratio is None else f"{self.ratio:.2f}",
            fmt_ms(self.answer_p99),
            fmt_ms(self.p50),
            fmt_ms(self.p95),
            fmt_ms(self.p99),
            "" if self.lost is None else str(self.lost),
            {None: "", True: "yes", False: "NO"}[self.met],
        ]


def add_options(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group(
        "WhatsApp ingest (scenario whatsapp; also uses --connections, --stall)"
    )
    s.add_argument("--wa-batches", default="1,100", help="statuses per notification (%(default)s)")
    s.add_argument("--wa-burst", type=int, help="statuses per burst (5,000; quick 500)")
    s.add_argument("--wa-rate", type=float, help="steady statuses/s (200; quick 100)")
    s.add_argument("--wa-duration", type=float, help="steady seconds (10; quick 2)")


def sizes_of(a: argparse.Namespace, connections: int, stall_s: float) -> IngestSizes:
    return IngestSizes(
        batches=tuple(int(x) for x in a.wa_batches.split(",") if x),
        burst=a.wa_burst or (500 if a.quick else 5_000),
        rate=a.wa_rate or (100.0 if a.quick else 200.0),
        duration_s=a.wa_duration or (2.0 if a.quick else 10.0),
        connections=connections,
        stall_s=stall_s,
        quick=a.quick,
    )


def setups(backends: list[str]) -> list[Topology]:
    return [t for t in SETUPS if t.backend in backends]


async def run_ingest(ctx: Context, topo: Topology, sizes: IngestSizes) -> list[IngestRow]:
    result = await attempt(topo, "WhatsApp ingest", run_setup(ctx, topo, sizes))
    if isinstance(result, str):
        say(topo, f"WhatsApp ingest failed: {result}")
        return [
            IngestRow(topo.label, _label(b), met=False, details={"error": result})
            for b in sizes.batches
        ]
    rows = [_row(topo, batch, result) for batch in sizes.batches]
    for row in rows:
        say(topo, f"WhatsApp {row.batch}: {', '.join(c for c in row.cells()[2:12] if c)}")
    return rows


def _label(batch: int) -> str:
    return f"{batch} status{'es' if batch > 1 else ''}/notification"


def _row(topo: Topology, batch: int, result: dict[str, Any]) -> IngestRow:
    burst, steady = result["batches"][batch]["burst"], result["batches"][batch]["steady"]
    row = IngestRow(
        topo.label,
        _label(batch),
        statuses=burst["accepted"] + steady["accepted"],
        notifications=burst["notifications_per_s"],
        applied=burst["statuses_per_s"],
        answer_p99=burst["answer_ms"]["p99"],
        p50=steady["from_sent_ms"]["p50"],
        p95=steady["from_sent_ms"]["p95"],
        p99=steady["from_sent_ms"]["p99"],
        lost=burst["lost"] + steady["lost"],
        details={**result, "batches": {batch: result["batches"][batch]}},
    )
    ceiling = result["ceiling"]
    if isinstance(ceiling, str):
        row.notes.append(f"no ceiling: {ceiling}")
    else:
        row.ceiling = ceiling[batch]["notifications_per_s"]
        row.details["ceiling"] = ceiling[batch]
    posted = burst["sent"] + steady["sent"]
    applied = sum(p["answered"].get("applied", 0) for p in (burst, steady))
    delivered = result["statuses"].get("DELIVERED", 0)
    everything = WARMUP + sum(
        p["sent"] for b in result["batches"].values() for p in (b["burst"], b["steady"])
    )
    checks = [
        (row.lost == 0 and steady["arrived"] > 0, f"{row.lost} statuses had no webhook"),
        (applied == posted, f"{applied} of {posted} statuses answered applied"),
        (result["webhooks_before"] == 0, f"{result['webhooks_before']} webhooks before any"),
        (delivered == everything, f"{delivered} of {everything} DELIVERED: {result['statuses']}"),
    ]
    row.met = all(ok for ok, _ in checks)
    row.notes += [f"missed: {why}" for ok, why in checks if not ok]
    if result["duplicates"]:
        row.notes.append(f"the receiver saw {result['duplicates']} duplicate webhooks")
    return row


def header(sizes: IngestSizes, source: str) -> list[str]:
    return [
        f"dlrhub WhatsApp ingest benchmark{' (--quick)' if sizes.quick else ''} · {source}",
        "Per setup: a fresh database; dlrhub serve with DLRHUB_WHATSAPP_API_URL at the stand-in "
        "(tests/standins/whatsapp_cloud.py, its own notifications sent to a sink);",
        "every message sent for real (POST /api/message-server/whatsapp/send, simulation: "
        "false), its wamid stored by dlrhub before any status is posted.",
        "Then signed notifications (X-Hub-Signature-256) of `delivered` statuses to "
        f"/carrier/v1/whatsapp: warm-up {WARMUP} x1; per batch size a burst of "
        f"{sizes.burst:,} statuses (closed loop, {sizes.connections} concurrent notifications "
        f"at most) and {sizes.rate:g} statuses/s open loop for {sizes.duration_s:g} s.",
        "notif/s, statuses/s: burst, notifications answered 200 and statuses the answers count "
        "`applied`, per second (first post → last 200); ceiling: notif/s of a bare aiohttp "
        "endpoint (own process) checking the same HMAC and parsing the same JSON, no database;",
        "200 p99: burst, post → 200; p50/p95/p99: steady, notification posted → its statuses' "
        "DELIVERY webhooks at the receiver; statuses: burst + steady;",
        f"lost: statuses without a webhook after {sizes.stall_s:g} s without progress. met: 0 "
        "lost, every status answered applied, every message DELIVERED in the database.",
    ]
