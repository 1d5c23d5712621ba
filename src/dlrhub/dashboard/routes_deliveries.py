"""The delivery log (SPEC §9): filter, read each delivery's attempts, retry one now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from dlrhub.dashboard.forms import parse_since
from dlrhub.dashboard.routes_webhooks import delivery_status_or_none
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
    safe_next,
)
from dlrhub.domain.delivery_state import DELIVERY_STATES
from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.routing import DELIVERY_STATUS_ID
from dlrhub.domain.short_ids import short_id
from dlrhub.services.catalog import Services
from dlrhub.services.deliveries import DeliveryPage

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE = 50


async def _webhook_choices(hub: Services, account_id: str) -> list[tuple[str, str]]:
    """(id, label) of every webhook the log can be filtered by."""
    choices: list[tuple[str, str]] = []
    delivery_status = await delivery_status_or_none(hub, account_id)
    if delivery_status is not None:
        choices.append((DELIVERY_STATUS_ID, f"delivery-status · {delivery_status.url}"))
    for webhook in await hub.richer_webhooks.list(account_id):
        label = f"{short_id(webhook.id)} · {webhook.product} {webhook.report_type}"
        choices.append((webhook.id, label))
    return choices


@router.get("/deliveries")
async def delivery_log(
    request: Request,
    session: SignedIn,
    status: str = "",
    webhook: str = "",
    since: str = "",
    cursor: str = "",
) -> Response:
    hub = hub_of(request)
    account_id = account_of(session)
    errors: dict[str, list[str]] = {}
    page = DeliveryPage(items=[], next_cursor=None)
    try:
        page = await hub.deliveries.list(
            account_id,
            status=status or None,
            webhook_id=webhook or None,
            since=parse_since(since),
            cursor=cursor or None,
            limit=PAGE_SIZE,
        )
    except InvalidInput as exc:
        errors = field_errors(exc.errors)
    attempts = await hub.overview.attempt_logs(account_id, [d.id for d in page.items])
    context: dict[str, Any] = {
        "page": page,
        "attempts": attempts,
        "filters": {"status": status, "webhook": webhook, "since": since},
        "statuses": DELIVERY_STATES,
        "webhooks": await _webhook_choices(hub, account_id),
        "errors": errors,
        "here": str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
    }
    code = 400 if errors else 200
    return await render(request, session, "deliveries.html", context, status_code=code)


@router.get("/deliveries/{delivery_id}")
async def delivery_page(request: Request, session: SignedIn, delivery_id: str) -> Response:
    detail = await hub_of(request).deliveries.get(account_of(session), delivery_id)
    context = {"detail": detail, "here": request.url.path}
    return await render(request, session, "delivery.html", context)


@router.post("/deliveries/{delivery_id}/retry")
async def retry(request: Request, posted: PostedForm, delivery_id: str) -> Response:
    await hub_of(request).deliveries.retry(posted.account_id, delivery_id)
    back = safe_next(posted.text("back"), default=f"{PREFIX}/deliveries")
    return redirect(back, done="retried")
