"""The `dlrhub` command: run the service, migrate the database, manage accounts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from dlrhub.cli_accounts import accounts_app
from dlrhub.cli_carriers import carrier_lines, carrier_status, carriers
from dlrhub.cli_common import iso, run, with_hub
from dlrhub.config import Settings
from dlrhub.domain.delivery_state import DeliveryState
from dlrhub.domain.errors import DlrhubError
from dlrhub.heap import settle_after_startup
from dlrhub.logs import configure_logging
from dlrhub.services.carrier_status import CarrierOverview
from dlrhub.services.operations import FailingWebhook
from dlrhub.services.retention import PruneReport, Retention
from dlrhub.wiring.hub import Hub

app = typer.Typer(
    help="dlrhub: delivery notifications for SMS, WhatsApp and RCS.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.command()(carriers)

DEMO_ACCOUNT = "demo"
# The name of the key `serve --dev` prints: each start revokes the keys of this name.
DEMO_KEY_NAME = "demo (serve --dev)"


def _settings(dev: bool) -> Settings:
    return Settings(dev=True) if dev else Settings()


DevOption = Annotated[
    bool,
    typer.Option(
        help="Development mode: allows http:// and loopback callback URLs, and creates "
        "(or reuses) a demo account whose new API key is printed."
    ),
]
HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]
PortOption = Annotated[int, typer.Option(help="TCP port.")]


async def _serve_http(settings: Settings, host: str, port: int, *, run_workers: bool) -> None:
    """Run the HTTP API (and, with `run_workers`, the dispatcher and simulator) until a
    signal; uvicorn turns SIGINT/SIGTERM into a graceful shutdown that drains deliveries."""
    import uvicorn

    from dlrhub.store.migrate import upgrade
    from dlrhub.wiring.app import create_app

    hub = Hub.build(settings)
    try:
        await upgrade(hub.db.engine)
        typer.echo(f"dlrhub {_version()} on {_safe_url(settings.database_url)}")
        if settings.dev:
            typer.echo(f"demo API key: {await _demo_key(hub)}")
        config = uvicorn.Config(
            create_app(settings, run_workers=run_workers, hub=hub),
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=int(settings.delivery_timeout_s) + 5,
            # X-Forwarded-For/-Proto are believed only from the proxies the operator names:
            # they decide the client address that failed sign-ins are counted by (SPEC §14).
            proxy_headers=settings.forwarded_allow_ips is not None,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
        # Bound here, before serving, so the line below names the port actually bound:
        # `--port 0` takes a free one and says which (tests start servers that way).
        sock = config.bind_socket()
        bound = sock.getsockname()[1]
        typer.echo(f"listening on http://{host}:{bound}  (API docs: http://{host}:{bound}/docs)")
        sys.stdout.flush()
        server = _graceful_server_class()(config)
        settle_after_startup()
        await server.serve(sockets=[sock])
    finally:
        await hub.db.dispose()


def _graceful_server_class() -> type[Any]:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn, except that SIGINT/SIGTERM end in a normal return after the graceful
        shutdown (which drains deliveries), instead of being re-raised at the process."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.handle_exit, signum, None)
            try:
                yield
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)

    return GracefulServer


@app.command()
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000, dev: DevOption = False) -> None:
    """Run the API, the dispatcher and the simulator in one process (applies migrations).

    The way to run dlrhub on one machine, and the only one on SQLite."""
    settings = _settings(dev)
    configure_logging(settings.log_level, json=settings.log_json)
    run(lambda: _serve_http(settings, host, port, run_workers=True))


@app.command()
def api(host: HostOption = "127.0.0.1", port: PortOption = 8000, dev: DevOption = False) -> None:
    """Run only the HTTP API (applies migrations). Pair with `dlrhub worker` processes on
    one PostgreSQL: run as many of each as you need, on as many machines."""
    settings = _settings(dev)
    configure_logging(settings.log_level, json=settings.log_json)
    _warn_if_sqlite(settings)
    run(lambda: _serve_http(settings, host, port, run_workers=False))


@app.command()
def worker(
    dev: Annotated[
        bool, typer.Option(help="Development mode: allows http:// and loopback callback URLs.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", "--port", help="Serve /metrics and /healthz on this port."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", "--host", help="Interface for --metrics-port.")
    ] = "127.0.0.1",
) -> None:
    """Run only the dispatcher and the simulator. Workers share the queue through leases
    (FOR UPDATE SKIP LOCKED) and wake on LISTEN/NOTIFY; SIGTERM or Ctrl-C drains in-flight
    deliveries, and a worker that dies has its leases taken over when they expire."""
    settings = _settings(dev)
    configure_logging(settings.log_level, json=settings.log_json)
    _warn_if_sqlite(settings)
    from dlrhub.worker import run_worker

    run(lambda: run_worker(settings, metrics_host, metrics_port))


def _warn_if_sqlite(settings: Settings) -> None:
    from dlrhub.store.engine import notifies_other_processes

    if not notifies_other_processes(settings.database_url):
        typer.echo(
            "warning: split api/worker processes on SQLite wake each other only by polling; "
            "use `dlrhub serve` on SQLite, or PostgreSQL to scale out",
            err=True,
        )


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue depth, failing webhooks, and the carriers' binds and submission queue."""

    async def read(hub: Hub) -> tuple[dict[str, int], list[FailingWebhook], CarrierOverview]:
        overview = await carrier_status(hub).overview()
        return await hub.operations.queue_depth(), await hub.operations.failing_webhooks(), overview

    # Only reads: a status check must never change the schema under running processes.
    depth, failing, carrier_view = run(lambda: with_hub(Settings(), read, migrate=False))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "queue": depth,
                    "failingWebhooks": [
                        {
                            "webhookId": f.webhook_id,
                            "account": f.account,
                            "url": f.url,
                            "failingSince": iso(f.failing_since),
                            "disabledAt": iso(f.disabled_at),
                            "disabledReason": f.disabled_reason,
                        }
                        for f in failing
                    ],
                }
            )
        )
        return
    typer.echo(
        f"queue: {depth[DeliveryState.PENDING]} pending, {depth[DeliveryState.FAILED]} retrying, "
        f"{depth['due']} due now"
    )
    if not failing:
        typer.echo("no failing webhooks")
    for f in failing:
        state = f"disabled: {f.disabled_reason}" if f.disabled_at else "failing"
        typer.echo(f"  {f.account}  {f.url}  since {iso(f.failing_since)}  {state}")
    for line in carrier_lines(carrier_view):
        typer.echo(line)


@app.command()
def send(
    to: Annotated[str, typer.Option("--to", help="Destination, E.164.")],
    body: Annotated[str, typer.Option("--body", help="The text.")] = "Hello from dlrhub",
    channel: Annotated[str, typer.Option(help="sms, whatsapp or rcs.")] = "sms",
    message_id: Annotated[str | None, typer.Option(help="Your own messageId.")] = None,
    api_key: Annotated[str, typer.Option(envvar="DLRHUB_API_KEY", help="X-Api-Key.")] = "",
    url: Annotated[str, typer.Option(help="The dlrhub to talk to.")] = "http://127.0.0.1:8000",
    real: Annotated[bool, typer.Option(help="simulation: false (needs a carrier).")] = False,
) -> None:
    """Send a message through a running dlrhub's API (simulated unless --real)."""
    from dlrhub.devtools import send_message

    request: dict[str, object] = {"destination": to, "body": body, "simulation": not real}
    if message_id is not None:
        request["messageId"] = message_id
    try:
        status_code, answer = send_message(url, api_key, channel, request)
    except OSError as exc:
        typer.echo(f"error: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(answer))
    if status_code >= 400:
        raise typer.Exit(1)


@app.command()
def listen(
    port: Annotated[int, typer.Option(help="TCP port.")] = 9000,
    host: Annotated[str, typer.Option(help="Interface.")] = "127.0.0.1",
    secret: Annotated[
        str | None,
        typer.Option(envvar="DLRHUB_SIGNING_SECRET", help="whsec_… to verify signatures."),
    ] = None,
) -> None:
    """A local webhook receiver that prints what arrives and checks its signature; register
    http://127.0.0.1:PORT/ as a callback of `dlrhub serve --dev` to watch events."""
    from dlrhub.devtools import listen as run_listener

    def emit(line: str) -> None:
        typer.echo(line)
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        run(lambda: run_listener(host, port, secret, emit))


async def _demo_key(hub: Hub) -> str:
    """A fresh key for the demo account, creating the account on first start. The key printed
    at the previous start is revoked: only the latest printed demo key works."""
    found = await hub.accounts.find(DEMO_ACCOUNT)
    if found is None:
        created = await hub.accounts.create(DEMO_ACCOUNT, key_name=DEMO_KEY_NAME)
        return str(created.api_key)
    # Unnamed keys on the demo account were all printed by `serve --dev` before keys had names.
    new = await hub.accounts.replace_named_keys(found[0], DEMO_KEY_NAME, also=("",))
    return str(new.api_key)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to DLRHUB_DATABASE_URL."""
    settings = Settings()

    async def noop(_hub: Hub) -> None:
        return None

    run(lambda: with_hub(settings, noop))
    typer.echo(f"database at {_safe_url(settings.database_url)} is up to date")


@db_app.command("prune")
def db_prune(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Age of the finished data to delete: 90d, 12h, 30m, 0s "
            "(default: DLRHUB_RETENTION_DAYS).",
        ),
    ] = None,
) -> None:
    """Delete finished data once, as the background job in serve/worker does (SPEC §15):
    final messages, their events, succeeded/dead/cancelled deliveries and their attempts.
    Nothing still to be sent is ever deleted. Prints the rows deleted per table."""
    from dlrhub.domain.retention import parse_duration

    try:
        keep = None if older_than is None else parse_duration(older_than, field="--older-than")
    except DlrhubError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc

    async def prune(hub: Hub) -> PruneReport:
        return await Retention.from_settings(hub.db, hub.clock, hub.settings).prune(keep)

    report = run(lambda: with_hub(Settings(), prune))
    typer.echo(f"deleted finished data last changed before {iso(report.cutoff)}:")
    for table, count in report.deleted.items():
        typer.echo(f"  {table}: {count}")
    typer.echo(
        f"in {report.elapsed_s:.2f} s ({report.batches} batches, "
        f"slowest {report.slowest_batch_s * 1000:.0f} ms)"
    )


def _version() -> str:
    from dlrhub import __version__

    return __version__


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    app()
