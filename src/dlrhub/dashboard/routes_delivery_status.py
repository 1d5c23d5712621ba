"""The account's delivery-status webhook (SPEC §5): set up, change its URL, remove it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

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
from dlrhub.domain.errors import DlrhubError, InvalidInput, NotFound
from dlrhub.store.records import WebhookRecord

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

PATH = "/webhooks/delivery-status"


async def _current(request: Request, account_id: str) -> WebhookRecord | None:
    try:
        return await hub_of(request).delivery_status.get(account_id)
    except NotFound:
        return None


@router.get(PATH + "/edit")
async def edit_page(request: Request, session: SignedIn) -> Response:
    webhook = await _current(request, account_of(session))
    context: dict[str, object] = {
        "webhook": webhook,
        "url": webhook.url if webhook else "",
        "errors": {},
    }
    return await render(request, session, "delivery_status_form.html", context)


@router.post(PATH + "/edit")
async def save(request: Request, posted: PostedForm) -> Response:
    service = hub_of(request).delivery_status
    url = posted.text("callbackUrl")
    webhook = await _current(request, posted.account_id)
    try:
        if webhook is None:
            await service.create(posted.account_id, url)
        else:
            await service.update(posted.account_id, url)
    except DlrhubError as exc:
        errors = field_errors(exc.errors) if isinstance(exc, InvalidInput) else {}
        context = {"webhook": webhook, "url": url, "errors": errors, "detail": exc.detail}
        return await render(
            request, posted.session, "delivery_status_form.html", context, status_code=exc.status
        )
    return redirect(f"{PREFIX}{PATH}", done="saved" if webhook else "created")


@router.post(PATH + "/delete")
async def delete(request: Request, posted: PostedForm) -> Response:
    await hub_of(request).delivery_status.delete(posted.account_id)
    return redirect(f"{PREFIX}/webhooks", done="deleted")
