"""API keys (SPEC §14): the account's keys, creating one (shown once) and revoking one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from dlrhub.dashboard.session import Session
from dlrhub.dashboard.web import (
    PREFIX,
    DashboardRoute,
    PostedForm,
    SignedIn,
    account_of,
    field_errors,
    hub_of,
    redirect,
    render,
)
from dlrhub.domain.api_keys import MAX_KEY_NAME_LENGTH
from dlrhub.domain.errors import InvalidInput
from dlrhub.services.accounts import NewApiKey

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)


async def _page(
    request: Request,
    session: Session,
    *,
    name: str = "",
    errors: dict[str, list[str]] | None = None,
    created: NewApiKey | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "keys": await hub_of(request).accounts.list_keys(account_of(session)),
        "name": name,
        "errors": errors or {},
        "created": created,
        "max_name": MAX_KEY_NAME_LENGTH,
    }
    return await render(request, session, "keys.html", context, status_code=status_code)


@router.get("/keys")
async def keys_page(request: Request, session: SignedIn) -> Response:
    return await _page(request, session)


@router.post("/keys")
async def create_key(request: Request, posted: PostedForm) -> Response:
    # Not a redirect: the key is shown in this answer only (pages are never cached).
    raw = posted.form.get("name")
    name = raw if isinstance(raw, str) else ""
    try:
        created = await hub_of(request).accounts.create_key(posted.account_id, name)
    except InvalidInput as exc:
        errors = field_errors(exc.errors)
        return await _page(request, posted.session, name=name, errors=errors, status_code=400)
    return await _page(request, posted.session, created=created)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, posted: PostedForm, key_id: str) -> Response:
    await hub_of(request).accounts.revoke_key(posted.account_id, key_id)
    # Revoking the key this session was opened with ends the session: the page then asks to
    # sign in again, as it should.
    return redirect(f"{PREFIX}/keys", done="key-revoked")
