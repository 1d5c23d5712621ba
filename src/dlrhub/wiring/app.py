"""The application factory: one FastAPI app per process (API + dashboard, and in `serve` the
workers), built from one Settings object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dlrhub.api.app import api_app
from dlrhub.config import Settings
from dlrhub.dashboard import mount as mount_dashboard
from dlrhub.metrics import Metrics
from dlrhub.runtime import Workers
from dlrhub.wiring.hub import Hub


def create_app(settings: Settings, *, run_workers: bool = True, hub: Hub | None = None) -> FastAPI:
    """Build the app. `run_workers` also runs the dispatcher and the simulator in-process."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = hub or Hub.build(settings)
        app.state.hub = current
        workers = Workers(current, metrics) if run_workers else None
        try:
            # The process's delivery clients: the workers' and, apart, "test webhook"'s.
            async with current.http.session(), current.test_http.session():
                if workers is not None:
                    workers.start()
                try:
                    yield
                finally:
                    if workers is not None:
                        await workers.stop()
        finally:
            if hub is None:
                await current.db.dispose()

    app = api_app(
        lifespan=lifespan,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        carrier_max_body_bytes=settings.carrier_max_body_bytes,
    )
    mount_dashboard(app, secret=settings.dashboard_secret, dev=settings.dev)
    return app
