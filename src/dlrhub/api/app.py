"""The application factory: one FastAPI app per process, built from one Settings object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from dlrhub import __version__
from dlrhub.api import (
    routes_carrier,
    routes_custom_webhooks,
    routes_deliveries,
    routes_keys,
    routes_messages,
    routes_webhooks,
)
from dlrhub.api.models import Health
from dlrhub.api.problems import BodyLimit, install_error_handlers
from dlrhub.api.text_guard import StorableText
from dlrhub.config import Settings
from dlrhub.dashboard import mount as mount_dashboard
from dlrhub.metrics import Metrics
from dlrhub.runtime import Workers
from dlrhub.services.hub import Hub

DESCRIPTION = """
Delivery notifications for SMS, WhatsApp and RCS: poll a message's status, or register a
webhook and receive signed events (Standard Webhooks) with retries.

Authenticate with the `X-Api-Key` header. Errors are `application/problem+json` (RFC 9457).
"""


def create_app(settings: Settings, *, run_workers: bool = True, hub: Hub | None = None) -> FastAPI:
    """Build the app. `run_workers` also runs the dispatcher and the simulator in-process."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = hub or Hub.build(settings)
        app.state.hub = current
        workers = Workers(current, app.state.metrics) if run_workers else None
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

    app = FastAPI(
        title="dlrhub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.metrics = Metrics()
    install_error_handlers(app)
    # Added first, so it runs inside BodyLimit: it reads bodies already limited.
    app.add_middleware(StorableText)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(routes_messages.send_router)
    app.include_router(routes_messages.router)
    app.include_router(routes_webhooks.router)
    # After routes_webhooks: /webhooks/{webhookId} must not shadow /webhooks/delivery-status.
    app.include_router(routes_custom_webhooks.router)
    app.include_router(routes_deliveries.router)
    app.include_router(routes_keys.router)
    app.include_router(routes_carrier.router)
    _add_health_routes(app)
    mount_dashboard(app, settings)
    return app


def _add_health_routes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=Health, tags=["health"], summary="The process is up")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["health"],
        summary="The database answers",
        responses={503: {"model": Health, "description": "The database does not answer"}},
    )
    async def readyz() -> Health | JSONResponse:
        hub: Hub = app.state.hub
        if await hub.db.ping():
            return Health(status="ok")
        return JSONResponse({"status": "database unavailable"}, status_code=503)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics() -> Response:
        hub: Hub = app.state.hub
        queue = await hub.operations.queue_depth()
        body = app.state.metrics.render(queue)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
