"""Webhooks (seed 004): the table, the add/edit form with "Test webhook", details, delete and
recover. The delivery-status webhook is listed and detailed here too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from dlrhub.dashboard import forms
from dlrhub.dashboard.forms import WebhookForm
from dlrhub.dashboard.session import Session
from dlrhub.dashboard.web import (
    PREFIX,
    DashboardRoute,
    Posted,
    PostedForm,
    SignedIn,
    account_of,
    field_errors,
    hub_of,
    redirect,
    render,
    safe_next,
)
from dlrhub.domain.errors import FieldError, InvalidInput, NotFound, OverLimit, RateLimited
from dlrhub.domain.routing import DELIVERY_STATUS_ID
from dlrhub.services.catalog import Services
from dlrhub.store.records import WebhookRecord

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

LATEST_DELIVERIES = 10
RECOVER_WINDOW = timedelta(hours=24)


async def delivery_status_or_none(hub: Services, account_id: str) -> WebhookRecord | None:
    try:
        return await hub.delivery_status.get(account_id)
    except NotFound:
        return None


@router.get("/webhooks")
async def webhooks_page(request: Request, session: SignedIn) -> Response:
    hub = hub_of(request)
    account_id = account_of(session)
    context = {
        "webhooks": await hub.richer_webhooks.list(account_id),
        "delivery_status": await delivery_status_or_none(hub, account_id),
        "labels": forms,
        "banners": await hub.alerts.banners(account_id),
    }
    return await render(request, session, "webhooks.html", context)


async def _form_page(
    request: Request,
    posted_or_session: Posted | Session,
    form: WebhookForm,
    webhook_id: str | None,
    *,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    session = (
        posted_or_session.session if isinstance(posted_or_session, Posted) else posted_or_session
    )
    numbers = await hub_of(request).accounts.waba_numbers(account_of(session))
    context: dict[str, Any] = {
        "form": form,
        "webhook_id": webhook_id,
        "waba_numbers": [number for number, _ in numbers],
        "all_parameters": forms.all_parameters(),
        "applies_to": forms.applies_to,
        "labels": forms,
        "errors": {},
        "detail": "",
        "test": None,
    }
    context.update(extra or {})
    return await render(request, session, "webhook_form.html", context, status_code=status_code)


@router.get("/webhooks/new")
async def new_page(request: Request, session: SignedIn) -> Response:
    return await _form_page(request, session, WebhookForm(), None)


@router.post("/webhooks/new")
async def create(request: Request, posted: PostedForm) -> Response:
    return await _submit(request, posted, None)


@router.get("/webhooks/{webhook_id}/edit")
async def edit_page(request: Request, session: SignedIn, webhook_id: str) -> Response:
    if webhook_id == DELIVERY_STATUS_ID:
        return redirect(f"{PREFIX}/webhooks/{DELIVERY_STATUS_ID}/edit")
    webhook = await hub_of(request).richer_webhooks.get(account_of(session), webhook_id)
    return await _form_page(request, session, WebhookForm.of(webhook), webhook_id)


@router.post("/webhooks/{webhook_id}/edit")
async def update(request: Request, posted: PostedForm, webhook_id: str) -> Response:
    await hub_of(request).richer_webhooks.get(posted.account_id, webhook_id)  # 404 if not ours
    return await _submit(request, posted, webhook_id)


async def _submit(request: Request, posted: Posted, webhook_id: str | None) -> Response:
    """Save, test (without saving) or, without the script, add a custom row; then show."""
    service = hub_of(request).richer_webhooks
    form = WebhookForm.parse(posted.form)
    action = posted.text("action") or "save"
    if action.startswith("add-"):
        form.add_row(action.removeprefix("add-"))
        return await _form_page(request, posted, form, webhook_id)
    try:
        spec = form.spec()
        if action == "test":
            result = await service.test(posted.account_id, spec)
            return await _form_page(request, posted, form, webhook_id, extra={"test": result})
        if webhook_id is None:
            saved = await service.create(posted.account_id, spec)
        else:
            saved = await service.update(posted.account_id, webhook_id, spec)
    except InvalidInput as exc:
        extra = {"errors": field_errors(exc.errors), "detail": exc.detail}
        return await _form_page(request, posted, form, webhook_id, extra=extra, status_code=400)
    except OverLimit as exc:
        # A per-account limit (SPEC §14): the form again, with what was typed and the reason.
        page = await _form_page(
            request, posted, form, webhook_id, extra={"detail": exc.detail}, status_code=exc.status
        )
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    return redirect(
        f"{PREFIX}/webhooks/{saved.id}", done="created" if webhook_id is None else "saved"
    )


async def _details(
    request: Request,
    posted_or_session: Posted | Session,
    webhook_id: str,
    *,
    errors: dict[str, list[str]] | None = None,
    since: str | None = None,
    status_code: int = 200,
) -> Response:
    session = (
        posted_or_session.session if isinstance(posted_or_session, Posted) else posted_or_session
    )
    hub = hub_of(request)
    account_id = account_of(session)
    webhook = await hub.deliveries.webhook(account_id, webhook_id)
    latest = await hub.deliveries.list(account_id, webhook_id=webhook_id, limit=LATEST_DELIVERIES)
    default_since = forms.local_input(hub.clock() - RECOVER_WINDOW)
    banners = await hub.alerts.banners(account_id)
    context = {
        "banner": banners.get(webhook_id),
        "webhook": webhook,
        "webhook_key": webhook_id,
        "is_delivery_status": webhook_id == DELIVERY_STATUS_ID,
        "deliveries": latest.items,
        "more_deliveries": latest.next_cursor is not None,
        "labels": forms,
        "errors": errors or {},
        "since": default_since if since is None else since,
    }
    return await render(request, session, "webhook_detail.html", context, status_code=status_code)


@router.get("/webhooks/{webhook_id}")
async def details(request: Request, session: SignedIn, webhook_id: str) -> Response:
    return await _details(request, session, webhook_id)


@router.post("/webhooks/{webhook_id}/delete")
async def delete(request: Request, posted: PostedForm, webhook_id: str) -> Response:
    await hub_of(request).richer_webhooks.delete(posted.account_id, webhook_id)
    return redirect(f"{PREFIX}/webhooks", done="deleted")


@router.post("/webhooks/{webhook_id}/recover")
async def recover(request: Request, posted: PostedForm, webhook_id: str) -> Response:
    raw = posted.text("since")
    try:
        since = forms.parse_since(raw)
        if since is None:
            raise InvalidInput("since is required", errors=[FieldError("since", "is required")])
        count = await hub_of(request).deliveries.recover(posted.account_id, webhook_id, since)
    except InvalidInput as exc:
        errors = field_errors(exc.errors)
        return await _details(
            request, posted, webhook_id, errors=errors, since=raw, status_code=400
        )
    return redirect(f"{PREFIX}/webhooks/{webhook_id}", done="recovered", n=count)


@router.post("/webhooks/{webhook_id}/enable")
async def enable(request: Request, posted: PostedForm, webhook_id: str) -> Response:
    """The banner's button on a disabled webhook: its queued deliveries resume."""
    await hub_of(request).operations.enable(posted.account_id, webhook_id)
    back = safe_next(posted.text("next"), default=f"{PREFIX}/webhooks/{webhook_id}")
    return redirect(back, done="enabled")
