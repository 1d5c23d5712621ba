"""Signing in with an API key, and out again."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dlrhub.dashboard.session import CSRF_FIELD, check_csrf, new_session
from dlrhub.dashboard.web import (
    PREFIX,
    DashboardRoute,
    SignedIn,
    codec_of,
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
    session = codec_of(request).read(request)
    if session is not None and session.signed_in:
        return redirect(f"{PREFIX}/webhooks")
    return redirect(f"{PREFIX}/login")


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    codec = codec_of(request)
    session = codec.read(request)
    if session is not None and session.signed_in:
        return redirect(safe_next(next))
    if session is None:
        session = new_session()
    response = await render(request, session, "login.html", {"next": safe_next(next)})
    codec.write(response, session, secure=is_secure(request))
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    codec = codec_of(request)
    session = codec.read(request)
    form = await request.form()
    check_csrf(session, form.get(CSRF_FIELD))
    assert session is not None
    api_key = form.get("apiKey")
    target = safe_next(str(form.get("next") or ""))
    try:
        account_id = await hub_of(request).accounts.authenticate(
            api_key.strip() if isinstance(api_key, str) else None
        )
    except Unauthorized:
        context = {"next": target, "error": "That API key is not valid. Check it and try again."}
        return await render(request, session, "login.html", context, status_code=401)
    # A fresh token on sign-in: a token seen before it (e.g. planted) is worth nothing after.
    response = redirect(target)
    codec.write(response, new_session(account_id), secure=is_secure(request))
    return response


@router.post("/logout")
async def logout(request: Request, session: SignedIn) -> Response:
    form = await request.form()
    check_csrf(session, form.get(CSRF_FIELD))
    response = redirect(f"{PREFIX}/login", done="signed-out")
    codec_of(request).clear(response, secure=is_secure(request))
    return response
