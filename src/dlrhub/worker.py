"""`dlrhub worker`: the dispatcher and the simulator without the HTTP API."""

from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web

from dlrhub.cli_common import require_current_schema
from dlrhub.config import Settings
from dlrhub.heap import settle_after_startup
from dlrhub.runtime import Workers
from dlrhub.wiring.hub import Hub

log = structlog.get_logger(__name__)


async def run_worker(settings: Settings, metrics_host: str, metrics_port: int | None) -> None:
    hub = Hub.build(settings)
    try:
        # Workers never migrate: many starting at once would race. `db upgrade` (or the API
        # processes' start-up) does it once.
        await require_current_schema(hub)
        await _run_until_signal(hub, metrics_host, metrics_port)
    finally:
        await hub.db.dispose()


async def _run_until_signal(hub: Hub, metrics_host: str, metrics_port: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    workers = Workers(hub)
    settle_after_startup()
    workers.start()
    runner = await _metrics_server(hub, workers, metrics_host, metrics_port)
    try:
        await stop.wait()
        log.info("stopping: draining in-flight deliveries")
    finally:
        await workers.stop()
        if runner is not None:
            await runner.cleanup()


async def _metrics_server(
    hub: Hub, workers: Workers, host: str, port: int | None
) -> web.AppRunner | None:
    if port is None:
        return None

    async def metrics(_request: web.Request) -> web.Response:
        body = workers.metrics.render(await hub.operations.queue_depth())
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    # The port actually bound (`--port 0` takes a free one), printed whatever the log level,
    # as `serve` prints its own: whoever started the process learns where to reach it.
    bound = runner.addresses[0][1]
    print(f"metrics listening on http://{host}:{bound}/metrics", flush=True)
    return runner
