"""Signing in with an API key, and out again (SPEC §14)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dlrhub.dashboard.session import CSRF_FIELD, Session, check_csrf, new_session
from dlrhub.dashboard.web import (
    PREFIX,
    DashboardRoute,
    SignedIn,
    codec_of,
    current_session,
    hub_of,
    is_secure,
    redirect,
    render,
    safe_next,
)
from dlrhub.domain.errors import Unauthorized

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)


@router.get("")
async def home(request: Request) -> Response:
    session = await current_session(request)
    if session is not None and session.signed_in:
        return redirect(f"{PREFIX}/webhooks")
    return redirect(f"{PREFIX}/login")


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    session = await current_session(request)
    if session is not None and session.signed_in:
        return redirect(safe_next(next))
    # No session, or a cookie whose session has ended: a new anonymous one replaces it.
    if session is None:
        session = new_session()
    response = await render(request, session, "login.html", {"next": safe_next(next)})
    codec_of(request).write_anonymous(response, session, secure=is_secure(request))
    return response


def client_address(request: Request) -> str:
    # uvicorn puts the proxy's X-Forwarded-For here only for the proxies the operator trusts
    # (DLRHUB_FORWARDED_ALLOW_IPS), so a client cannot pick its own address.
    return request.client.host if request.client else "unknown"


@router.post("/login")
async def login(request: Request) -> Response:
    session = await current_session(request)
    form = await request.form()
    check_csrf(session, form.get(CSRF_FIELD))
    assert session is not None
    target = safe_next(str(form.get("next") or ""))
    hub = hub_of(request)
    address = client_address(request)
    wait = hub.sign_ins.retry_after(address)
    if wait is not None:
        # Over the limit the key is not even looked at: guessing gains nothing by trying on.
        return await _refused(request, session, target, 429, _too_many(wait), wait)
    api_key = form.get("apiKey")
    try:
        opened = await hub.sessions.open(api_key.strip() if isinstance(api_key, str) else None)
    except Unauthorized:
        hub.sign_ins.failed(address)
        error = "That API key is not valid. Check it and try again."
        return await _refused(request, session, target, 401, error, None)
    if session.token is not None:
        await hub.sessions.close(session.token)
    # A new token on every sign-in (session fixation): a cookie seen or planted before it is
    # worth nothing after, and the CSRF token changes with it.
    response = redirect(target)
    codec_of(request).write_token(response, opened.token, secure=is_secure(request))
    return response


def _too_many(wait: int) -> str:
    unit = "second" if wait == 1 else "seconds"
    return f"Too many failed sign-ins from your address. Wait {wait} {unit} before trying again."


async def _refused(
    request: Request,
    session: Session,
    target: str,
    status: int,
    error: str,
    retry_after: int | None,
) -> Response:
    context = {"next": target, "error": error}
    response = await render(request, session, "login.html", context, status_code=status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.post("/logout")
async def logout(request: Request, session: SignedIn) -> Response:
    form = await request.form()
    check_csrf(session, form.get(CSRF_FIELD))
    if session.token is not None:
        await hub_of(request).sessions.close(session.token)
    response = redirect(f"{PREFIX}/login", done="signed-out")
    codec_of(request).clear(response, secure=is_secure(request))
    return response
