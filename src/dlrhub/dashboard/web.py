"""What every dashboard handler shares: sessions, CSRF-checked forms, rendering, error pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
import structlog
from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from dlrhub import __version__
from dlrhub.dashboard.session import (
    CSRF_FIELD,
    CsrfRefused,
    Session,
    SessionCodec,
    SignInRequired,
    check_csrf,
)
from dlrhub.domain.errors import DlrhubError, FieldError
from dlrhub.domain.short_ids import short_id
from dlrhub.services.catalog import Services

log = structlog.get_logger(__name__)

PREFIX = "/dashboard"
TEMPLATES = Path(__file__).parent / "templates"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def field_id(name: str) -> str:
    """An HTML id for a form field named by its API path (e.g. `parameters.transactionId`)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = format_time
    env.filters["fid"] = field_id
    env.filters["short_id"] = short_id
    env.globals["version"] = __version__
    env.globals["prefix"] = PREFIX
    return env


ENV = _environment()


def hub_of(request: Request) -> Services:
    hub: Services = request.app.state.hub
    return hub


def codec_of(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.dashboard_sessions
    return codec


def is_secure(request: Request) -> bool:
    """Whether cookies get `Secure`: always outside `--dev` (behind a TLS proxy the app may see
    plain http), and over https in development too."""
    dev: bool = request.app.state.dashboard_dev
    return not dev or request.url.scheme == "https"


async def current_session(request: Request) -> Session | None:
    """The request's session: a live server session for a token cookie, else the anonymous
    session of a signed cookie, else None. Looked up once per request."""
    if hasattr(request.state, "dashboard_session"):
        cached: Session | None = request.state.dashboard_session
        return cached
    codec = codec_of(request)
    token = codec.token(request)
    session: Session | None
    if token is not None:
        found = await hub_of(request).sessions.find(token)
        session = (
            None
            if found is None
            else Session(csrf_token=found.csrf_token, account_id=found.account_id, token=token)
        )
    else:
        session = codec.read_anonymous(request)
    request.state.dashboard_session = session
    return session


async def signed_in(request: Request) -> Session:
    session = await current_session(request)
    if session is None or not session.signed_in:
        raise SignInRequired
    return session


@dataclass(frozen=True)
class Posted:
    """A signed-in session and the form it posted, its CSRF token verified."""

    session: Session
    form: FormData

    @property
    def account_id(self) -> str:
        assert self.session.account_id is not None
        return self.session.account_id

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""


async def posted(request: Request, session: Annotated[Session, Depends(signed_in)]) -> Posted:
    form = await request.form()
    check_csrf(session, form.get(CSRF_FIELD))
    return Posted(session, form)


SignedIn = Annotated[Session, Depends(signed_in)]
PostedForm = Annotated[Posted, Depends(posted)]


def account_of(session: Session) -> str:
    assert session.account_id is not None
    return session.account_id


def field_errors(errors: list[FieldError]) -> dict[str, list[str]]:
    """Validation errors keyed by field path (the API's camelCase names), in order."""
    grouped: dict[str, list[str]] = {}
    for error in errors:
        grouped.setdefault(error.field, []).append(error.message)
    return grouped


async def render(
    request: Request,
    session: Session | None,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page, with the layout's account name, health strip and the session's CSRF token."""
    values: dict[str, Any] = {
        "path": request.url.path,
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf_token if session else "",
        "signed_in": bool(session and session.signed_in),
        "account_name": None,
        "health": None,
        "flash": _flash(request),
    }
    if session is not None and session.account_id is not None:
        hub = hub_of(request)
        found = await hub.accounts.find(session.account_id)
        values["account_name"] = found[1] if found else session.account_id
        values["health"] = await hub.overview.account_health(session.account_id)
    values.update(context or {})
    html = ENV.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code)


# Confirmations shown after a redirect, chosen by code: the query string never supplies text.
FLASH = {
    "signed-out": "You are signed out.",
    "created": "Webhook created.",
    "saved": "Webhook saved.",
    "deleted": "Webhook deleted.",
    "retried": "Delivery queued to be sent again now.",
    "recovered": "{n} failed or dead deliveries queued again.",
    "sent": "Simulated message sent. Its status updates below as the simulator reports.",
    "key-revoked": "API key revoked: every call with it is refused.",
    "enabled": "Webhook enabled: its queued deliveries are being sent again.",
}


def _flash(request: Request) -> str:
    template = FLASH.get(request.query_params.get("done", ""), "")
    count = request.query_params.get("n", "0")
    return template.format(n=int(count) if count.isdigit() else 0)


def redirect(path: str, *, done: str | None = None, n: int | None = None) -> RedirectResponse:
    """303 See Other (after a POST), optionally with a confirmation code for the next page."""
    if done:
        base, _, query = path.partition("?")
        kept = [
            (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in ("done", "n")
        ]
        kept.append(("done", done))
        if n is not None:
            kept.append(("n", str(n)))
        path = base + "?" + urlencode(kept)
    return RedirectResponse(path, status_code=303)


def safe_next(target: str | None, default: str = PREFIX + "/webhooks") -> str:
    """Only ever redirect into the dashboard (after sign-in, or back to where a form was)."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return default


async def _error_page(request: Request, status: int, title: str, detail: str) -> Response:
    session = await current_session(request)
    return await render(
        request,
        session,
        "error.html",
        {"status": status, "title": title, "detail": detail},
        status_code=status,
    )


async def _refusal(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        return redirect(f"{PREFIX}/login?next={quote(target)}")
    if isinstance(exc, CsrfRefused):
        log.warning("dashboard request without its CSRF token", path=request.url.path)
        return await _error_page(
            request,
            403,
            "Request refused",
            "The form did not carry this session's security token. Reload the page and try again.",
        )
    if isinstance(exc, DlrhubError):
        return await _error_page(request, exc.status, exc.title, exc.detail)
    raise exc


class DashboardRoute(APIRoute):
    """Turns refusals into pages (not problem+json) and adds the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except (SignInRequired, CsrfRefused, DlrhubError) as exc:
                response = await _refusal(request, exc)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return handle
