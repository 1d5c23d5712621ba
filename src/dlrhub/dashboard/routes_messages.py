"""Messages: look one up by customerMessageId, and send a simulated test message."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

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
from dlrhub.domain.errors import DlrhubError, FieldError, InvalidInput, NotFound
from dlrhub.domain.sending import SendFields
from dlrhub.domain.status import Channel
from dlrhub.services.catalog import Services

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

SEND_FIELDS = ("channel", "destination", "body", "messageId", "sender", "phoneNumberId")


async def _send_context(hub: Services, account_id: str) -> dict[str, Any]:
    numbers = [number for number, _ in await hub.accounts.waba_numbers(account_id)]
    return {"channels": [c.value for c in Channel], "waba_numbers": numbers}


async def _lookup(hub: Services, account_id: str, customer_message_id: str) -> dict[str, Any]:
    try:
        message = await hub.messaging.status(account_id, customer_message_id)
    except NotFound:
        return {"not_found": True}
    history = await hub.overview.message_history(account_id, message)
    # What carriers said, applied or not (docs/receipt-timeouts.md).
    reports = await hub.messaging.report_history(account_id, customer_message_id)
    return {"message": message, "history": history, "carrier_reports": reports.reports}


@router.get("/messages")
async def messages_page(
    request: Request, session: SignedIn, customerMessageId: str = ""
) -> Response:
    hub = hub_of(request)
    account_id = account_of(session)
    wanted = customerMessageId.strip()
    context = await _send_context(hub, account_id)
    context.update(query=wanted, send={"channel": Channel.SMS.value}, errors={}, send_error="")
    if wanted:
        context.update(await _lookup(hub, account_id, wanted))
    status = 404 if context.get("not_found") else 200
    return await render(request, session, "messages.html", context, status_code=status)


def _fields(values: dict[str, str]) -> SendFields:
    try:
        channel = Channel(values["channel"])
    except ValueError:
        problem = FieldError("channel", "must be one of " + ", ".join(c.value for c in Channel))
        raise InvalidInput("channel is not valid", errors=[problem]) from None
    return SendFields(
        channel=channel,
        destination=values["destination"],
        body=values["body"],
        sender=values["sender"] or None,
        phone_number_id=values["phoneNumberId"] or None,
        simulation=True,
    )


@router.post("/messages/send")
async def send_message(request: Request, posted: PostedForm) -> Response:
    hub = hub_of(request)
    values = {name: posted.text(name) for name in SEND_FIELDS}
    # The body is sent as typed: only surrounding whitespace of the ids is insignificant.
    raw_body = posted.form.get("body")
    values["body"] = raw_body if isinstance(raw_body, str) else ""
    try:
        result = await hub.messaging.send(
            posted.account_id, _fields(values), values["messageId"] or None
        )
    except DlrhubError as exc:
        context = await _send_context(hub, posted.account_id)
        context.update(
            query="",
            send=values,
            errors=field_errors(exc.errors) if isinstance(exc, InvalidInput) else {},
            send_error=exc.detail,
        )
        return await render(
            request, posted.session, "messages.html", context, status_code=exc.status
        )
    target = quote(result.message.customer_message_id)
    return redirect(f"{PREFIX}/messages?customerMessageId={target}", done="sent")
