"""Running the scenarios for one setup and turning each into a table row with its target."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from deploy import Topology
from report import Row
from scenarios import Context, Measured, backlog, ceiling, isolation, latency, percentiles

T = TypeVar("T")

BACKLOG_TARGET = 0.60
FLAT_TARGET = 0.90
ISOLATION_TARGET = 0.90
P50_TARGET_MS = 10.0
P99_TARGET_MS = 50.0
RSS_SLACK = 1.10  # peak RSS with the big history may be at most 10 % above the small one


@dataclass(frozen=True)
class Sizes:
    backlog: int
    done: int
    rate: float
    duration_s: float
    per_webhook: int
    pools: list[int]
    quick: bool
    repeat: int = 1
    webhooks: int = 1


def say(topo: Topology, message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {topo.label}: {message}", file=sys.stderr, flush=True)


async def attempt(topo: Topology, what: str, work: Awaitable[T]) -> T | str:
    """Run one step; a failure becomes its message (the row says so) instead of ending the run."""
    say(topo, f"{what} …")
    try:
        return await work
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return f"{type(exc).__name__}: {exc}"[:300]


async def median_of(times: int, run: Callable[[], Awaitable[Measured]]) -> Measured:
    """Run `times` times; the run with the median rate, with every rate in its details."""
    runs = [await run() for _ in range(times)]
    runs.sort(key=lambda m: m.rate)
    chosen = runs[len(runs) // 2]
    if times > 1:
        chosen.extra["repeats"] = [m.rate for m in runs]
    return chosen


def _failed(topo: Topology, scenario: str, error: str) -> Row:
    say(topo, f"{scenario} failed: {error}")
    return Row(topo.label, scenario, target="error", met=False, details={"error": error})


def _rss(m: Measured) -> float:
    return float(m.usage["peak_rss_mb"])


def _cpu(m: Measured) -> str:
    return f"{1000 * m.usage['cpu_s'] / max(m.count, 1):.2f}"


def _details(m: Measured) -> dict[str, Any]:
    return {"count": m.count, "usage": m.usage, **m.extra}


async def run_topology(ctx: Context, topo: Topology, sizes: Sizes, wanted: set[str]) -> list[Row]:
    rows: list[Row] = []
    empty: Measured | str | None = None
    if wanted & {"backlog", "flat"}:
        empty = await attempt(
            topo,
            f"backlog {sizes.backlog:,}",
            median_of(
                sizes.repeat, lambda: backlog(ctx, topo, sizes.backlog, webhooks=sizes.webhooks)
            ),
        )
    if "backlog" in wanted:
        assert empty is not None
        rows.append(await _backlog_row(ctx, topo, sizes, empty))
    if "latency" in wanted:
        rows.append(await _latency_row(ctx, topo, sizes))
    if "flat" in wanted:
        assert empty is not None
        rows.append(await _flat_row(ctx, topo, sizes, empty))
    if "isolation" in wanted:
        rows += await _isolation_rows(ctx, topo, sizes)
    return rows


async def _backlog_row(ctx: Context, topo: Topology, sizes: Sizes, empty: Measured | str) -> Row:
    scenario = f"backlog {sizes.backlog:,} due"
    if sizes.webhooks > 1:
        scenario += f" to {sizes.webhooks} webhooks"
    if isinstance(empty, str):
        return _failed(topo, scenario, empty)
    top = await attempt(topo, "ceiling", ceiling(ctx, sizes.backlog, sizes.pools, sizes.repeat))
    if isinstance(top, str):
        return _failed(topo, scenario + " (ceiling)", top)
    row = Row(
        topo.label,
        scenario,
        rate=empty.rate,
        reference=top["best"],
        reference_of="ceiling",
        rss=f"{_rss(empty):.0f}",
        cpu=f"{_cpu(empty)} ({min(top['cpu_ms_per_request'].values()):.2f})",
        target=f"≥{BACKLOG_TARGET:.0%} of ceiling",
        details={**_details(empty), "ceiling": top},
    )
    row.met = (row.ratio or 0.0) >= BACKLOG_TARGET and empty.count >= sizes.backlog
    say(topo, f"backlog {empty.rate:,.0f}/s, ceiling {top['best']:,.0f}/s")
    return row


async def _latency_row(ctx: Context, topo: Topology, sizes: Sizes) -> Row:
    scenario = f"latency @ {sizes.rate:g} reports/s"
    measured = await attempt(topo, scenario, latency(ctx, topo, sizes.rate, sizes.duration_s))
    if isinstance(measured, str):
        return _failed(topo, scenario, measured)
    latencies = measured.extra.pop("latencies_ms")
    pct = percentiles(latencies)
    lost = measured.extra["reports"] - measured.extra["arrived"]
    row = Row(
        topo.label,
        scenario,
        rate=measured.rate,
        p50=pct["p50"],
        p95=pct["p95"],
        p99=pct["p99"],
        rss=f"{_rss(measured):.0f}",
        cpu=_cpu(measured),
        target=f"p50≤{P50_TARGET_MS:g}, p99≤{P99_TARGET_MS:g} ms",
        details={**_details(measured), "latency_ms": pct, "not_arrived": lost},
    )
    row.met = (
        pct["p50"] is not None
        and pct["p50"] <= P50_TARGET_MS
        and (pct["p99"] or 0.0) <= P99_TARGET_MS
        and lost == 0
        and measured.extra["reports_accepted_per_s"] >= 0.95 * sizes.rate
    )
    row.notes = _latency_notes(measured, sizes, pct, lost)
    say(topo, f"latency p50 {row.cells()[5]} p99 {row.cells()[7]} ms, {lost} not arrived")
    return row


def _latency_notes(
    measured: Measured, sizes: Sizes, pct: dict[str, float | None], lost: int
) -> list[str]:
    notes = []
    accepted = measured.extra["reports_accepted_per_s"]
    if accepted < 0.95 * sizes.rate:
        notes.append(
            f"dlrhub accepted only {accepted:,.0f} of the {sizes.rate:g} reports/s offered "
            f"(report HTTP p50 {measured.extra['report_http_ms']['p50']:,.0f} ms): "
            "the API is saturated, so these latencies describe an overloaded system"
        )
    if (pct["p50"] or 0.0) < 0:
        notes.append(
            "negative latency: webhooks arrived before the report's HTTP 200 reached the "
            "load generator (dlrhub answers after commit; a busy API or CPU delays the 200)"
        )
    if lost:
        notes.append(f"{lost} accepted reports never produced a webhook arrival")
    return notes


async def _flat_row(ctx: Context, topo: Topology, sizes: Sizes, empty: Measured | str) -> Row:
    scenario = f"flat: +{sizes.done:,} done"
    if isinstance(empty, str):
        return _failed(topo, scenario, "no empty-table run to compare with")
    big = await attempt(
        topo,
        scenario,
        median_of(
            sizes.repeat,
            lambda: backlog(ctx, topo, sizes.backlog, kind="done", webhooks=sizes.webhooks),
        ),
    )
    if isinstance(big, str):
        return _failed(topo, scenario, big)
    row = Row(
        topo.label,
        scenario,
        rate=big.rate,
        reference=empty.rate,
        reference_of="empty",
        rss=f"{_rss(empty):.0f}→{_rss(big):.0f}",
        cpu=_cpu(big),
        target=f"≥{FLAT_TARGET:.0%}, RSS flat",
        details=_details(big),
    )
    row.met = (row.ratio or 0.0) >= FLAT_TARGET and _rss(big) <= _rss(empty) * RSS_SLACK
    say(topo, f"flat {big.rate:,.0f}/s vs {empty.rate:,.0f}/s on empty tables")
    return row


async def _isolation_rows(ctx: Context, topo: Topology, sizes: Sizes) -> list[Row]:
    n = sizes.per_webhook
    base_name, hang_name = "isolation: 100 healthy", "… + 1 hanging webhook"
    base = await attempt(
        topo, base_name, median_of(sizes.repeat, lambda: isolation(ctx, topo, n, hang=False))
    )
    if isinstance(base, str):
        return [_failed(topo, base_name, base)]
    hung = await attempt(
        topo, hang_name, median_of(sizes.repeat, lambda: isolation(ctx, topo, n, hang=True))
    )
    first = Row(
        topo.label,
        base_name,
        rate=base.rate,
        rss=f"{_rss(base):.0f}",
        cpu=_cpu(base),
        details=_details(base),
    )
    if isinstance(hung, str):
        return [first, _failed(topo, hang_name, hung)]
    row = Row(
        topo.label,
        hang_name,
        rate=hung.rate,
        reference=base.rate,
        reference_of="w/o",
        rss=f"{_rss(hung):.0f}",
        cpu=_cpu(hung),
        target=f"≥{ISOLATION_TARGET:.0%} of w/o",
        details=_details(hung),
    )
    row.met = (row.ratio or 0.0) >= ISOLATION_TARGET and hung.count >= n * 100
    say(topo, f"isolation {hung.rate:,.0f}/s with a hanging webhook vs {base.rate:,.0f}/s")
    return [first, row]
