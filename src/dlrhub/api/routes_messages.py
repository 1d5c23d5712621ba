"""Sending (SPEC §2), polling (§4) and simulated replies (§10)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.api.models import (
    InboundRequest,
    InboundResponse,
    MessageReportsView,
    MessageStatusBatch,
    MessageStatusView,
    SendMessageRequest,
    SendMessageResponse,
)
from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.sending import SendFields
from dlrhub.domain.simulation import parse_simulation
from dlrhub.domain.status import Channel

send_router = APIRouter(prefix="/api/message-server", tags=["sending"])
router = APIRouter(prefix="/api/partner-gateway/v1", tags=["messages"])


def _add_send_route(channel: Channel) -> None:
    async def send(
        request: SendMessageRequest, account_id: AccountId, hub: HubDep, response: Response
    ) -> SendMessageResponse:
        simulation, simulation_options = parse_simulation(request.simulation)
        fields = SendFields(
            channel=channel,
            destination=request.destination,
            body=request.body,
            sender=request.sender,
            phone_number_id=request.phoneNumberId,
            simulation=simulation,
            enable_notification=request.enableNotification,
            validity_period=request.validityPeriod,
            simulation_options=simulation_options,
        )
        result = await hub.messaging.send(account_id, fields, request.messageId)
        if not result.created:
            response.status_code = status.HTTP_200_OK
        message = result.message
        return SendMessageResponse(
            messageId=message.id,
            customerMessageId=message.customer_message_id,
            channel=message.channel,
            status=message.status,
            totalParts=message.total_parts,
        )

    send_router.add_api_route(
        f"/{channel.value.lower()}/send",
        send,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=SendMessageResponse,
        summary=f"Send a {channel.value} message",
        description="201 for a new message; 200 when the same messageId was sent before with "
        "the same request (idempotent retry).",
        responses={200: {"model": SendMessageResponse}, **problems(400, 401, 409, 413, 422)},
        operation_id=f"send_{channel.value.lower()}",
    )


for _channel in Channel:
    _add_send_route(_channel)


# Before the status route: its `:path` id would take "ID/reports" whole.
@router.get(
    "/messages/status/{customerMessageId}/reports",
    response_model=MessageReportsView,
    summary="Every carrier report on one message, applied or not",
    description="Late receipts (after the message's receipt timeout), repeats and intermediate "
    "reports change nothing but are listed here (docs/receipt-timeouts.md).",
    responses=problems(401, 404),
)
async def message_reports(
    customerMessageId: str, account_id: AccountId, hub: HubDep
) -> MessageReportsView:
    return MessageReportsView.of(await hub.messaging.report_history(account_id, customerMessageId))


@router.get(
    # `:path`: an id with a slash in it (never a valid id) gets this route's 404 problem,
    # not a redirect from the router's trailing-slash handling.
    "/messages/status/{customerMessageId:path}",
    response_model=MessageStatusView,
    # `parts` is set only for a real multi-part SMS; every other field is always set.
    response_model_exclude_unset=True,
    summary="Status of one message",
    responses=problems(401, 404),
)
async def message_status(
    customerMessageId: str,
    account_id: AccountId,
    hub: HubDep,
    channel: Channel | None = None,
) -> MessageStatusView:
    polled = await hub.messaging.polled(account_id, customerMessageId, channel)
    return MessageStatusView.of(polled.message, polled.parts)


@router.get(
    "/messages/status",
    response_model=MessageStatusBatch,
    response_model_exclude_unset=True,
    summary="Status of up to 100 messages",
    responses=problems(400, 401),
)
async def message_statuses(
    account_id: AccountId,
    hub: HubDep,
    customerMessageIds: Annotated[
        str | None, Query(description="Comma-separated, at most 100.")
    ] = None,
    ids: Annotated[str | None, Query(description="Alias of customerMessageIds.")] = None,
) -> MessageStatusBatch:
    raw = customerMessageIds if customerMessageIds is not None else ids
    if raw is None:
        raise InvalidInput(
            "customerMessageIds is required",
            errors=[FieldError("customerMessageIds", "is required")],
        )
    batch = await hub.messaging.statuses(account_id, raw)
    return MessageStatusBatch(
        messages=[MessageStatusView.of(m, batch.parts.get(m.id)) for m in batch.messages],
        notFound=batch.not_found,
    )


@router.post(
    "/simulate/inbound",
    response_model=InboundResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Simulate a reply from a recipient (an INBOUND event)",
    responses=problems(400, 401, 413),
)
async def simulate_inbound(
    request: InboundRequest, account_id: AccountId, hub: HubDep
) -> InboundResponse:
    event_id = await hub.messaging.receive_inbound(
        account_id,
        source=request.source,
        destination=request.destination,
        channel=request.channel,
        text=request.text,
    )
    return InboundResponse(eventId=event_id)
