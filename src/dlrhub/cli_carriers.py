"""`dlrhub carriers`, and the carriers' lines of `dlrhub status` (SPEC §11.2)."""

from __future__ import annotations

import typer

from dlrhub.cli_common import iso, run, with_hub
from dlrhub.config import Settings
from dlrhub.services.carrier_status import (
    SMPP_SETTING,
    CarrierOverview,
    CarrierStatus,
    SessionView,
)
from dlrhub.wiring.hub import Hub


def carrier_lines(overview: CarrierOverview) -> list[str]:
    """What `dlrhub status` says of the carriers: one line per bind, and the queue."""
    lines = [] if overview.configured else [f"carriers: none configured ({SMPP_SETTING})"]
    lines += [
        f"bind {bind.name}: {bind.bound} of {bind.slots} sessions bound" for bind in overview.binds
    ]
    return [*lines, f"submissions: {_queue_line(overview)}"]


def carrier_status(hub: Hub) -> CarrierStatus:
    return CarrierStatus(hub.db, hub.clock, hub.settings.smpp_binds)


def _queue_line(carriers: CarrierOverview) -> str:
    waiting = sum(carriers.queue_depth.values())
    per_channel = ", ".join(f"{c.value} {n}" for c, n in carriers.queue_depth.items())
    return f"{waiting} waiting ({per_channel})"


def carriers() -> None:
    """Each SMPP bind's sessions across every process (state, holder, lease, counters) and
    the submissions waiting for a carrier, from the database."""

    async def read(hub: Hub) -> CarrierOverview:
        return await carrier_status(hub).overview()

    overview = run(lambda: with_hub(Settings(), read, migrate=False))
    if not overview.configured:
        typer.echo(
            f"no carrier connector is configured: set {SMPP_SETTING} to "
            "smpp://SYSTEM_ID:PASSWORD@HOST:PORT (smpps:// for TLS; comma-separated, with "
            "optional ?sessions=N&window=N&rate=N) to send real SMS"
        )
    for bind in overview.binds:
        configured = (
            "" if bind.configured_sessions is None else f", {bind.configured_sessions} configured"
        )
        typer.echo(f"bind {bind.name}: {bind.bound} of {bind.slots} sessions bound{configured}")
        if not bind.sessions:
            typer.echo("  no session claimed yet (is a worker running with this setting?)")
        for session in bind.sessions:
            typer.echo(f"  slot {session.slot}: {_session_line(session)}")
    typer.echo(f"submission queue: {_queue_line(overview)}")


def _session_line(session: SessionView) -> str:
    lease = iso(session.lease_expires_at)
    if session.holder is None:
        held = "no holder"
    elif session.lease_ran_out:
        held = f"holder {session.holder} stopped renewing (lease ran out {lease})"
    else:
        held = f"holder {session.holder}, lease until {lease}"
    counters = " ".join(f"{name}={value}" for name, value in sorted(session.counters.items()))
    return (
        f"{session.state}, {held}, {counters or 'no counters'}, updated {iso(session.updated_at)}"
    )
