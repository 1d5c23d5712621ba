"""The end-to-end table (issue 10): its setups, its rows, their targets.

Per setup three rows: the closed-loop `burst` (send API rate, end-to-end webhook rate and its
ratio to the same-run ceiling) and one `steady` row per offered rate (latency from the send's
201 to the webhook's arrival, and whether the backlog grew). The warm-up phase is in the JSON
only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deploy import Topology
from endtoend import E2ESizes, endtoend
from report import fmt_ms, fmt_num
from scenarios import Context, ceiling
from suite import attempt, say

# The targets.
RATIO_TARGET = 0.25  # end-to-end webhooks/s vs the ceiling (SQLite serve, PostgreSQL split)
SEND_TARGET = 3000.0  # accepted sends/s on SQLite
P50_TARGET_MS = 10.0
P99_TARGET_MS = 50.0
STEADY_ACCEPTED = 0.95  # of the offered rate
DRIFT_LIMIT_MS = 50.0  # last second's p50 at most this much above the first second's
RSS_TARGET_MB = 200.0

SETUPS = (
    Topology("sqlite", 0),  # `dlrhub api` alone: the send API's rate (the target's "alone")
    Topology("sqlite", 1, serve=True),
    Topology("postgresql", 1, serve=True),
    Topology("postgresql", 2, apis=2),
)

COLUMNS = (
    ("setup", "<"),
    ("measure", "<"),
    ("sends/s", ">"),
    ("webhooks/s", ">"),
    ("ceiling", ">"),
    ("ratio", ">"),
    ("p50 ms", ">"),
    ("p95 ms", ">"),
    ("p99 ms", ">"),
    ("1st→last s", ">"),
    ("CPU ms/msg", ">"),
    ("RSS MiB", ">"),
    ("lost", ">"),
    ("target", "<"),
    ("met", "<"),
)


@dataclass
class E2ERow:
    setup: str
    measure: str
    sends: float | None = None
    webhooks: float | None = None
    ceiling: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    drift: str = ""
    cpu: float | None = None
    rss: float | None = None
    lost: int | None = None
    target: str = ""
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.webhooks is None or not self.ceiling:
            return None
        return self.webhooks / self.ceiling

    def cells(self) -> list[str]:
        return [
            self.setup,
            self.measure,
            fmt_num(self.sends),
            fmt_num(self.webhooks),
            fmt_num(self.ceiling),
            "" if self.ratio is None else f"{self.ratio:.2f}",
            fmt_ms(self.p50),
            fmt_ms(self.p95),
            fmt_ms(self.p99),
            self.drift,
            "" if self.cpu is None else f"{self.cpu:.2f}",
            "" if self.rss is None else f"{self.rss:.0f}",
            "" if self.lost is None else str(self.lost),
            self.target,
            {None: "", True: "yes", False: "NO"}[self.met],
        ]


def setups(backends: list[str]) -> list[Topology]:
    return [t for t in SETUPS if t.backend in backends]


async def run_endtoend(ctx: Context, topo: Topology, sizes: E2ESizes) -> list[E2ERow]:
    """The setup's run, then the ceiling right after it (dlrhub stopped, same receiver)."""
    result = await attempt(topo, "end to end", endtoend(ctx, topo, sizes))
    if isinstance(result, str):
        say(topo, f"end to end failed: {result}")
        return [
            E2ERow(topo.label, "end to end", target="error", met=False, details={"error": result})
        ]
    if not topo.workers:
        row = _send_api_row(topo, sizes, {p["phase"]: p for p in result["phases"]}["burst"])
        row.details.update(tag=result["tag"], shape=result["shape"], usage=result["usage"])
        say(topo, f"{row.measure}: {row.cells()[2]} sends/s")
        return [row]
    top = await attempt(topo, "ceiling", ceiling(ctx, sizes.ceiling_n, sizes.pools, sizes.repeat))
    phases = {p["phase"]: p for p in result["phases"]}
    rows = [_burst_row(topo, sizes, phases["burst"], top)]
    rows += [_steady_row(topo, phases[f"steady {rate:g}/s"], rate) for rate in sizes.rates]
    for row in rows:
        row.details.update(
            tag=result["tag"], shape=result["shape"], duplicates_whole_run=result["duplicates"]
        )
    rows[0].details.update(usage=result["usage"], warm_up=phases["warm-up"])
    if result["duplicates"]:
        rows[0].notes.append(f"the receiver saw {result['duplicates']} duplicate webhooks")
    say(topo, "; ".join(f"{r.measure}: {', '.join(c for c in r.cells()[2:10] if c)}" for r in rows))
    return rows


def _send_api_row(topo: Topology, sizes: E2ESizes, p: dict[str, Any]) -> E2ERow:
    """The send API alone (`dlrhub api`, no worker): accepted sends per second."""
    row = E2ERow(
        topo.label,
        f"sends {sizes.burst:,} ({sizes.connections} conn)",
        sends=p["accepted_per_s"],
        cpu=p["cpu_ms_per_message"],
        rss=p["peak_rss_mb"],
        details=dict(p),
    )
    sends = p["accepted_per_s"]
    check = (
        f"≥{SEND_TARGET:,.0f} sends/s",
        sends >= SEND_TARGET,
        f"sends {sends:,.0f}/s vs ≥{SEND_TARGET:,.0f}/s (margin {sends - SEND_TARGET:+,.0f}/s)",
    )
    _judge(row, [check], p, delivers=False)
    return row


def _burst_row(
    topo: Topology, sizes: E2ESizes, p: dict[str, Any], top: dict[str, Any] | str
) -> E2ERow:
    row = E2ERow(
        topo.label,
        f"burst {sizes.burst:,} ({sizes.connections} conn)",
        sends=p["accepted_per_s"],
        webhooks=p["webhooks_per_s_end_to_end"],
        cpu=p["cpu_ms_per_message"],
        rss=p["peak_rss_mb"],
        lost=p["lost"],
        details=dict(p),
    )
    checks: list[tuple[str, bool, str]] = []
    if isinstance(top, str):
        row.notes.append(f"no ceiling: {top}")
    else:
        row.ceiling = top["best"]
        row.details["ceiling"] = top
    ratio = row.ratio or 0.0
    if topo.backend == "sqlite" or not topo.serve:
        checks.append(
            (
                f"≥{RATIO_TARGET:.2f} of ceiling",
                ratio >= RATIO_TARGET,
                f"ratio {ratio:.3f} vs ≥{RATIO_TARGET:.2f} (margin {ratio - RATIO_TARGET:+.3f})",
            )
        )
    _judge(row, checks, p)
    return row


def _steady_row(topo: Topology, p: dict[str, Any], rate: float) -> E2ERow:
    first, last = p["first_second_p50_ms"], p["last_second_p50_ms"]
    row = E2ERow(
        topo.label,
        f"steady {rate:,.0f} sends/s",
        sends=p["accepted_per_s"],
        webhooks=p["webhooks_per_s"],
        p50=p["latency_ms"]["p50"],
        p95=p["latency_ms"]["p95"],
        p99=p["latency_ms"]["p99"],
        drift="" if first is None or last is None else f"{fmt_ms(first)}→{fmt_ms(last)}",
        cpu=p["cpu_ms_per_message"],
        rss=p["peak_rss_mb"],
        lost=p["lost"],
        details=dict(p),
    )
    if (row.p50 or 0.0) < 0:
        row.notes.append(
            "negative latency: webhooks arrived before the send's 201 reached the load "
            "generator (a busy API or CPU delays the 201, not the webhook)"
        )
    _judge(row, _steady_checks(row, p, rate), p)
    return row


def _steady_checks(row: E2ERow, p: dict[str, Any], rate: float) -> list[tuple[str, bool, str]]:
    """Accepted ≥ 95 % of the offered rate; up to 500/s the latency targets, above it
    "keeps up" (the issue's target at 1,000/s)."""
    first, last = p["first_second_p50_ms"], p["last_second_p50_ms"]
    accepted = p["accepted_per_s"]
    checks = [
        (
            f"≥{STEADY_ACCEPTED:.0%} accepted",
            accepted >= STEADY_ACCEPTED * rate,
            f"accepted {accepted:,.0f} of {rate:,.0f} sends/s offered: the send API fell behind",
        )
    ]
    if rate <= 500:
        p50, p99 = row.p50, row.p99
        checks.append(
            (
                f"p50≤{P50_TARGET_MS:g}, p99≤{P99_TARGET_MS:g} ms",
                p50 is not None
                and p99 is not None
                and p50 <= P50_TARGET_MS
                and p99 <= P99_TARGET_MS,
                f"p50 {fmt_ms(p50)} ms (margin {_margin(p50, P50_TARGET_MS)}), "
                f"p99 {fmt_ms(p99)} ms (margin {_margin(p99, P99_TARGET_MS)})",
            )
        )
    else:
        grew = first is None or last is None or last - first > DRIFT_LIMIT_MS
        checks.append(
            (
                "keeps up",
                not grew,
                f"the backlog grew: send → webhook p50 {fmt_ms(first)} ms for the first "
                f"second's sends, {fmt_ms(last)} ms for the last second's",
            )
        )
    return checks


def _margin(value: float | None, limit: float) -> str:
    return "n/a" if value is None else f"{limit - value:+,.1f} ms"


def _judge(
    row: E2ERow, checks: list[tuple[str, bool, str]], p: dict[str, Any], *, delivers: bool = True
) -> None:
    """Every row also needs peak RSS ≤ 200 MiB and, where webhooks are sent (`delivers`),
    0 lost; a miss gets a footnote."""
    required = [
        (
            f"RSS≤{RSS_TARGET_MB:.0f}",
            p["peak_rss_mb"] <= RSS_TARGET_MB,
            f"peak RSS {p['peak_rss_mb']:.0f} MiB vs ≤{RSS_TARGET_MB:.0f} MiB",
        ),
    ]
    if delivers:
        required.append(
            (
                "0 lost",
                p["lost"] == 0 and p["arrived"] > 0,
                f"{p['lost']} accepted messages never produced a webhook ({p['arrived']} did)",
            )
        )
    if p["refused"]:
        row.notes.append(f"{p['refused']} sends were not accepted: {p['statuses']}")
    row.target = ", ".join(label for label, _, _ in checks) or "(reference)"
    checks = [*checks, *required]
    row.met = all(ok for _, ok, _ in checks)
    row.notes += [f"missed: {why}" for _, ok, why in checks if not ok]
    row.details["targets"] = {label: ok for label, ok, _ in checks}


def header(sizes: E2ESizes, source: str) -> list[str]:
    rates = " and ".join(f"{r:,.0f}" for r in sizes.rates)
    return [
        f"dlrhub end-to-end benchmark{' (--quick)' if sizes.quick else ''} · {source}",
        f"Each message: POST /api/message-server/sms/send (X-Api-Key, JSON, simulation: true) "
        f"from a load generator process, {sizes.connections} connections over the API processes;",
        "simulator delay 0; the account's delivery-status webhook points at the receiver. "
        f"Phases: warm-up {sizes.warmup:,}, burst {sizes.burst:,} (closed loop), then "
        f"{rates} sends/s open loop for {sizes.duration_s:g} s each.",
        "sends/s: 201s per second; webhooks/s: burst = accepted / (first send → last webhook), "
        "steady = arrival rate; ceiling: bare aiohttp to the same receiver, same run;",
        "p50/p95/p99: send's 201 → webhook arrival; 1st→last s: p50 from *sending* to the "
        "webhook, first second's sends → last second's; CPU: all dlrhub processes per message;",
        f"RSS: peak (VmHWM) of the largest dlrhub process; lost: 201s without a webhook after "
        f"{sizes.stall_s:g} s without progress. Every target also needs 0 lost and RSS "
        f"≤{RSS_TARGET_MB:.0f} MiB.",
    ]
