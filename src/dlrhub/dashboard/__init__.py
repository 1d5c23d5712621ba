"""The dashboard (SPEC §12): server-rendered pages for people, over the same services as the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dlrhub.dashboard import (
    routes_auth,
    routes_deliveries,
    routes_delivery_status,
    routes_keys,
    routes_messages,
    routes_webhooks,
)
from dlrhub.dashboard.session import SessionCodec, process_secret
from dlrhub.dashboard.web import PREFIX

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI, *, secret: str | None, dev: bool) -> None:
    """Serve the dashboard at /dashboard (pages and their static files). `secret` signs its
    session cookies (`dashboard_secret`; None: a random one for this process); `dev` lets
    them go without `Secure` over plain http."""
    app.state.dashboard_sessions = SessionCodec(process_secret(secret))
    app.state.dashboard_dev = dev
    # The delivery-status routes come before `/webhooks/{id}` so that they win the match.
    for module in (
        routes_auth,
        routes_delivery_status,
        routes_webhooks,
        routes_deliveries,
        routes_messages,
        routes_keys,
    ):
        app.include_router(module.router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="dashboard-static")
