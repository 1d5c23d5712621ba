"""dlrhub's benchmarks. The dispatch table (issue 3): throughput vs a bare-aiohttp ceiling,
latency at a steady report rate, flat cost with a big history, and isolation from a hanging
webhook. The end-to-end table (issue 10, scenario `endtoend`): messages sent through the
public API, timed to their webhooks. The SMPP table (issue 11, scenario `smpp`): real SMS
through the SMPP connector to the test SMSC, with one and two sessions. The WhatsApp ingest
table (issue 12, scenario `whatsapp`): Meta's signed status notifications, timed to webhooks.
The ordering table (issue 13, scenario `ordering`): a backlog of DELIVERY + READ pairs drained
with per-message order on and off.

    .venv/bin/python bench/dispatch.py [--quick] [--backends sqlite,postgresql] ...
    .venv/bin/python bench/dispatch.py --quick --scenarios endtoend [--dlrhub-src DIR]

Starts everything itself (a receiver process, dlrhub processes, fresh databases) and stops
and drops all of it at the end, on Ctrl-C or on failure. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import secrets
import signal
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import run
from deploy import ReceiverClient, Topology, dlrhub_commands, dlrhub_origin, start_receiver
from endtoend import E2ESizes
from endtoend_table import COLUMNS as E2E_COLUMNS
from endtoend_table import E2ERow, run_endtoend, setups
from endtoend_table import header as e2e_header
from harness import BENCH_DIR, Harness
from ingest import IngestSizes
from ingest_table import COLUMNS as INGEST_COLUMNS
from ingest_table import IngestRow, run_ingest
from ingest_table import add_options as add_ingest_options
from ingest_table import header as ingest_header
from ingest_table import setups as ingest_setups
from ingest_table import sizes_of as ingest_sizes_of
from ordering import COLUMNS as ORDERING_COLUMNS
from ordering import OrderingRow, run_ordering
from ordering import header as ordering_header
from report import Row, machine, render, source, write_json
from scenarios import Context
from seeding import dlrhub_env
from smpp import SmppSizes
from smpp_table import COLUMNS as SMPP_COLUMNS
from smpp_table import SmppRow, add_options, run_smpp, sizes_of
from smpp_table import header as smpp_header
from smpp_table import setups as smpp_setups
from suite import Sizes, run_topology

SCENARIOS = (
    *("backlog", "latency", "flat", "isolation"),
    *("endtoend", "smpp", "whatsapp", "ordering"),
)
# Scenarios with their own table (ordering runs on the dispatch table's setups).
SEPARATE = {"endtoend", "smpp", "whatsapp", "ordering"}


@dataclass(frozen=True)
class Options:
    sizes: Sizes
    e2e: E2ESizes
    topologies: list[Topology]
    e2e_setups: list[Topology]
    scenarios: set[str]
    pg_dsn: str
    env: dict[str, str]
    output: Path
    keep_logs: bool
    profile: Path | None
    dlrhub_src: Path | None
    smpp: SmppSizes
    smpp_setups: list[Topology]
    ingest: IngestSizes
    ingest_setups: list[Topology]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (10k backlog, 100k done)")
    p.add_argument("--backends", default="sqlite,postgresql", help="default: %(default)s")
    p.add_argument("--pg-workers", default="1,2", help="worker counts on PostgreSQL (%(default)s)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="default: %(default)s")
    p.add_argument("--backlog", type=int, help="due deliveries (100,000; quick 10,000)")
    p.add_argument(
        "--backlog-webhooks", type=int, default=1, help="webhooks sharing the backlog (1)"
    )
    p.add_argument("--done", type=int, help="succeeded rows for flat (1,000,000; quick 100,000)")
    p.add_argument("--rate", type=float, default=500.0, help="reports/s for latency (500)")
    p.add_argument("--duration", type=float, help="seconds of steady reports (15; quick 10)")
    p.add_argument("--per-webhook", type=int, help="isolation deliveries/webhook (1000; quick 100)")
    p.add_argument("--pools", default="64,256", help="ceiling connection pools (%(default)s)")
    p.add_argument(
        "--repeat", type=int, default=1, help="runs per throughput row; the median is shown"
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("DLRHUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an existing PostgreSQL database to connect to for CREATE/DROP DATABASE",
    )
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="dlrhub env")
    p.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "latest.json")
    p.add_argument("--keep-logs", action="store_true", help="keep the work dir and its logs")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run each dlrhub process under `py-spy record` (pip install py-spy); collapsed\n"
        "stacks go to DIR/<tag>-<setup>-<process>.txt (summarise: bench/profiles.py)",
    )
    p.add_argument(
        "--dlrhub-src",
        type=Path,
        metavar="DIR",
        help="run the dlrhub processes from another checkout's src/ (put first on their\n"
        "PYTHONPATH); the receiver, ceiling and load generator keep this tree's code",
    )
    _add_endtoend_options(p)
    add_options(p)
    add_ingest_options(p)
    return p


def _add_endtoend_options(p: argparse.ArgumentParser) -> None:
    e = p.add_argument_group("end to end (scenario endtoend)")
    e.add_argument("--connections", type=int, default=32, help="client connections (32)")
    e.add_argument("--burst", type=int, help="closed-loop sends (10,000; quick 2,000)")
    e.add_argument("--warmup", type=int, help="sends before the burst (500; quick 200)")
    e.add_argument("--send-rates", default="500,1000", help="open-loop sends/s (%(default)s)")
    e.add_argument("--send-duration", type=float, help="seconds per rate (10; quick 2)")
    e.add_argument("--stall", type=float, help="s without a webhook = lost (30; quick 10)")
    e.add_argument("--ceiling-n", type=int, help="ceiling requests (20,000; quick 5,000)")


def _e2e_sizes(a: argparse.Namespace, sizes: Sizes) -> E2ESizes:
    quick = a.quick
    return E2ESizes(
        connections=a.connections,
        warmup=a.warmup if a.warmup is not None else (200 if quick else 500),
        burst=a.burst or (2_000 if quick else 10_000),
        rates=tuple(float(x) for x in a.send_rates.split(",") if x),
        duration_s=a.send_duration or (2.0 if quick else 10.0),
        stall_s=a.stall or (10.0 if quick else 30.0),
        ceiling_n=a.ceiling_n or (5_000 if quick else 20_000),
        pools=sizes.pools,
        repeat=sizes.repeat,
        quick=quick,
    )


def parse_args(argv: list[str] | None = None) -> Options:
    p = _parser()
    a = p.parse_args(argv)
    quick = a.quick
    sizes = Sizes(
        backlog=a.backlog or (10_000 if quick else 100_000),
        done=a.done if a.done is not None else (100_000 if quick else 1_000_000),
        rate=a.rate,
        duration_s=a.duration or (10.0 if quick else 15.0),
        per_webhook=a.per_webhook or (100 if quick else 1000),
        pools=[int(x) for x in a.pools.split(",")],
        quick=quick,
        repeat=max(1, a.repeat),
        webhooks=max(1, a.backlog_webhooks),
    )
    backends = a.backends.split(",")
    topologies = []
    for backend in backends:
        if backend not in ("sqlite", "postgresql"):
            p.error(f"unknown backend {backend!r}")
        counts = [1] if backend == "sqlite" else [int(x) for x in a.pg_workers.split(",")]
        topologies += [Topology(backend, n) for n in counts]
    scenarios = set(a.scenarios.split(","))
    if not scenarios <= set(SCENARIOS):
        p.error(f"scenarios are {', '.join(SCENARIOS)}")
    if a.dlrhub_src is not None and not (a.dlrhub_src / "dlrhub" / "__init__.py").exists():
        p.error(f"--dlrhub-src {a.dlrhub_src}: no dlrhub/__init__.py there (give the src/ dir)")
    env = {key: value for key, _, value in (item.partition("=") for item in a.env)}
    pg_dsn = a.pg_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    e2e = _e2e_sizes(a, sizes)
    return Options(
        sizes,
        e2e,
        topologies,
        setups(backends),
        scenarios,
        pg_dsn,
        env,
        a.output,
        a.keep_logs,
        a.profile,
        None if a.dlrhub_src is None else a.dlrhub_src.resolve(),
        sizes_of(a, e2e.connections, e2e.duration_s, e2e.stall_s),
        smpp_setups(backends),
        ingest_sizes_of(a, e2e.connections, e2e.stall_s),
        ingest_setups(backends),
    )


def base_env(extra: dict[str, str]) -> dict[str, str]:
    """dlrhub's settings for every run: loopback plain-HTTP targets allowed, quiet logs."""
    return dlrhub_env(
        {
            "DLRHUB_ALLOW_HTTP": "true",
            "DLRHUB_ALLOW_PRIVATE_TARGETS": "true",
            "DLRHUB_LOG_LEVEL": "warning",
            **extra,
        }
    )


def header(opts: Options, info: dict[str, object]) -> list[str]:
    s = opts.sizes
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"dlrhub dispatch benchmark{' (--quick)' if s.quick else ''} · "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z · commit {info['commit']}"
        f"{' + uncommitted src changes' if info['dirty'] else ''}"
        f"{'' if opts.dlrhub_src is None else f' · dlrhub processes from {opts.dlrhub_src}'}",
        f"{info['cpus']} CPU cores shared by dlrhub, the receiver, PostgreSQL and the load "
        f"generator (load average now {load}).",
        "Receiver: plain HTTP on 127.0.0.1, aiohttp in its own process, answers 200 at once. "
        f"Ceiling: bare aiohttp loop, same requests, pool {'/'.join(map(str, s.pools))} (best).",
        f"Sizes: backlog {s.backlog:,} due · flat {s.done:,} done + {s.backlog:,} due · "
        f"latency {s.rate:g} reports/s for {s.duration_s:g} s · isolation "
        f"{s.per_webhook:,} x 100 healthy (+{s.per_webhook:,} to 1 hanging).",
        "dlrhub: default settings (plain-HTTP loopback targets allowed, log level warning)"
        + "".join(f", {k}={v}" for k, v in opts.env.items())
        + ".",
        "deliv/s: arrivals at the receiver / (last - first arrival); latency: report accepted "
        "(HTTP 200) → webhook arrival; RSS: peak (VmHWM) of the largest dispatching process;",
        "CPU ms/dlv: CPU time of all dlrhub processes per delivery (the ceiling's per request).",
    ]


def with_src(env: dict[str, str], src: Path | None) -> dict[str, str]:
    """`env` for the dlrhub processes: `src` first on PYTHONPATH (before the installed one)."""
    if src is None:
        return env
    paths = [str(src), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def check_origin(env: dict[str, str], src: Path | None) -> str:
    """Which dlrhub the processes import; with `--dlrhub-src`, it must be that one."""
    origin = dlrhub_origin(env)
    if src is not None and not Path(origin).resolve().is_relative_to(src):
        raise RuntimeError(f"--dlrhub-src {src}: the dlrhub processes import {origin} instead")
    return origin


Rows = tuple[list[Row], list[E2ERow], list[SmppRow], list[IngestRow], list[OrderingRow]]


async def bench(opts: Options) -> Rows:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    harness = Harness(opts.pg_dsn, keep_logs=opts.keep_logs, profile_dir=opts.profile)
    if opts.profile is not None:
        opts.profile.mkdir(parents=True, exist_ok=True)
    atexit.register(harness.close_sync)
    rows: list[Row] = []
    e2e_rows: list[E2ERow] = []
    smpp_rows: list[SmppRow] = []
    ingest_rows: list[IngestRow] = []
    ordering_rows: list[OrderingRow] = []
    try:
        if any(t.backend == "postgresql" for t in opts.topologies):
            for name in await harness.drop_stale():
                print(f"dropped stale database {name}", file=sys.stderr)
        env = base_env(opts.env)
        dlrhub_env_ = with_src(env, opts.dlrhub_src)
        _, receiver_url = await start_receiver(harness, env)
        async with ReceiverClient(receiver_url) as receiver:
            ctx = Context(
                harness=harness,
                receiver_url=receiver_url,
                receiver=receiver,
                env=dlrhub_env_,
                commands=dlrhub_commands(dlrhub_env_),
                carrier_token=secrets.token_urlsafe(16),
                done_rows=opts.sizes.done,
                tool_env=env,
            )
            if opts.scenarios - SEPARATE:
                for topology in opts.topologies:
                    rows += await run_topology(ctx, topology, opts.sizes, opts.scenarios)
            if "endtoend" in opts.scenarios:
                for topology in opts.e2e_setups:
                    e2e_rows += await run_endtoend(ctx, topology, opts.e2e)
            if "smpp" in opts.scenarios:
                for topology in opts.smpp_setups:
                    smpp_rows += await run_smpp(ctx, topology, opts.smpp)
            if "whatsapp" in opts.scenarios:
                for topology in opts.ingest_setups:
                    ingest_rows += await run_ingest(ctx, topology, opts.ingest)
            if "ordering" in opts.scenarios:
                s = opts.sizes
                ordering_rows += await run_ordering(ctx, opts.topologies, s.backlog, s.repeat)
    finally:
        if opts.keep_logs:
            print(f"logs kept in {harness.workdir}", file=sys.stderr)
        await harness.close()
    return rows, e2e_rows, smpp_rows, ingest_rows, ordering_rows


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    info = machine()
    src = source(opts.dlrhub_src)
    src["imported_from"] = check_origin(
        with_src(base_env(opts.env), opts.dlrhub_src), opts.dlrhub_src
    )
    info["dlrhub_src"] = src
    head = header(opts, info)
    try:
        rows, e2e_rows, smpp_rows, ingest_rows, ordering_rows = run(bench(opts))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            "interrupted: every process and database the benchmark started is gone", file=sys.stderr
        )
        return 130
    e2e_head = e2e_header(opts.e2e, _source_line(src))
    if rows:
        print(render(rows, head))
    if e2e_rows:
        print(("\n" if rows else "") + render(e2e_rows, e2e_head, E2E_COLUMNS))
    smpp_head = smpp_header(opts.smpp, _source_line(src))
    if smpp_rows:
        print(("\n" if rows or e2e_rows else "") + render(smpp_rows, smpp_head, SMPP_COLUMNS))
    ingest_head = ingest_header(opts.ingest, _source_line(src))
    if ingest_rows:
        before = "\n" if rows or e2e_rows or smpp_rows else ""
        print(before + render(ingest_rows, ingest_head, INGEST_COLUMNS))
    ordering_head = ordering_header(opts.sizes.backlog, opts.sizes.repeat, _source_line(src))
    if ordering_rows:
        before = "\n" if rows or e2e_rows or smpp_rows or ingest_rows else ""
        print(before + render(ordering_rows, ordering_head, ORDERING_COLUMNS))
    meta: dict[str, Any] = {"header": head, "machine": info, "sizes": vars(opts.sizes)}
    meta.update(endtoend_header=e2e_head, endtoend_sizes=vars(opts.e2e))
    meta.update(
        smpp_header=smpp_head,
        smpp_sizes=vars(opts.smpp),
        smpp=[{**asdict(row), "ratio": row.ratio} for row in smpp_rows],
    )
    meta.update(
        whatsapp_header=ingest_head,
        whatsapp_sizes=vars(opts.ingest),
        whatsapp=[{**asdict(row), "ratio": row.ratio} for row in ingest_rows],
    )
    meta.update(
        ordering_header=ordering_head,
        ordering=[{**asdict(row), "cost": row.cost} for row in ordering_rows],
    )
    write_json(opts.output, rows, meta, e2e_rows)
    print(f"\nresults: {opts.output}")
    failed = [r.details for r in rows] + [r.details for r in e2e_rows]
    failed += [r.details for r in smpp_rows] + [r.details for r in ingest_rows]
    failed += [r.details for r in ordering_rows]
    return 1 if any("error" in details for details in failed) else 0


def _source_line(src: dict[str, Any]) -> str:
    dirty = " + uncommitted changes" if src["dirty"] else ""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z · dlrhub from {src['src']} "
        f"(commit {src['commit']}{dirty}) · load average {load}"
    )


if __name__ == "__main__":
    sys.exit(main())
