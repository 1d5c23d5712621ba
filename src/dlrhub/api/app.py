"""The HTTP API as one FastAPI app: its routes, middleware, error bodies and health checks.

The wiring (wiring/app.py) builds it with the process's lifespan, which puts the services
at `app.state.hub`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from dlrhub import __version__
from dlrhub.api import (
    routes_account,
    routes_alerts,
    routes_carrier,
    routes_deliveries,
    routes_delivery_status,
    routes_events,
    routes_keys,
    routes_messages,
    routes_providers,
    routes_richer_webhooks,
)
from dlrhub.api.models import Health
from dlrhub.api.problems import BodyLimit, install_error_handlers
from dlrhub.api.text_guard import RAW_BODY_PATHS, StorableText
from dlrhub.metrics import Metrics
from dlrhub.services.catalog import Services

DESCRIPTION = """
Delivery notifications for SMS, WhatsApp and RCS: poll a message's status, or register a
webhook and receive signed events (Standard Webhooks) with retries.

Authenticate with the `X-Api-Key` header. Errors are `application/problem+json` (RFC 9457).
"""

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def api_app(
    *,
    lifespan: Lifespan,
    metrics: Metrics,
    max_body_bytes: int,
    carrier_max_body_bytes: int | None = None,
) -> FastAPI:
    app = FastAPI(
        title="dlrhub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Added first, so it runs inside BodyLimit: it reads bodies already limited.
    app.add_middleware(StorableText)
    # Meta and Google post batches of hundreds of statuses: their ingest takes larger bodies.
    provider_limit = carrier_max_body_bytes or max_body_bytes
    app.add_middleware(
        BodyLimit,
        max_bytes=max_body_bytes,
        larger={path: provider_limit for path in RAW_BODY_PATHS},
    )
    app.include_router(routes_messages.send_router)
    app.include_router(routes_messages.router)
    app.include_router(routes_delivery_status.router)
    # After routes_delivery_status: /webhooks/{webhookId} must not shadow /webhooks/delivery-status.
    app.include_router(routes_richer_webhooks.router)
    app.include_router(routes_deliveries.router)
    app.include_router(routes_account.router)
    app.include_router(routes_alerts.router)
    app.include_router(routes_keys.router)
    app.include_router(routes_carrier.router)
    app.include_router(routes_providers.router)
    app.include_router(routes_events.router)
    app.state.metrics = metrics
    _add_health_routes(app, metrics)
    return app


def _add_health_routes(app: FastAPI, process_metrics: Metrics) -> None:
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
        hub: Services = app.state.hub
        if await hub.operations.ready():
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
        hub: Services = app.state.hub
        queue = await hub.operations.queue_depth()
        body = process_metrics.render(queue)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
