"""The delivery log (SPEC §9), and bringing a failing webhook's deliveries back: replaying
them (`recover`) and re-enabling a disabled webhook (`enable`). Both name the webhook by its
public id, a richer webhook's id or `delivery-status`: they apply to either kind."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.api.models_delivery_log import (
    DeliveryDetailView,
    DeliveryItem,
    DeliveryList,
    RecoverRequest,
    RecoverResponse,
)
from dlrhub.domain.delivery_state import DELIVERY_STATES
from dlrhub.services.deliveries import MAX_LIMIT

router = APIRouter(prefix="/api/partner-gateway/v1", tags=["deliveries"])

_STATES = f"{', '.join(DELIVERY_STATES[:-1])} or {DELIVERY_STATES[-1]}."


@router.get(
    "/deliveries",
    response_model=DeliveryList,
    summary="The delivery log, newest first",
    responses=problems(400, 401),
)
async def list_deliveries(
    account_id: AccountId,
    hub: HubDep,
    status: Annotated[str | None, Query(description=_STATES)] = None,
    webhookId: Annotated[str | None, Query(description="A webhook id, or delivery-status.")] = None,
    since: Annotated[
        datetime | None, Query(description="Only deliveries created since (ISO 8601).")
    ] = None,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> DeliveryList:
    page = await hub.deliveries.list(
        account_id, status=status, webhook_id=webhookId, since=since, cursor=cursor, limit=limit
    )
    return DeliveryList(items=[DeliveryItem.of(v) for v in page.items], nextCursor=page.next_cursor)


@router.get(
    "/deliveries/{deliveryId}",
    response_model=DeliveryDetailView,
    summary="One delivery with every attempt",
    responses=problems(401, 404),
)
async def get_delivery(deliveryId: str, account_id: AccountId, hub: HubDep) -> DeliveryDetailView:
    return DeliveryDetailView.of_detail(await hub.deliveries.get(account_id, deliveryId))


@router.post(
    "/deliveries/{deliveryId}/retry",
    response_model=DeliveryItem,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again now",
    description="Even a dead or succeeded one; it is sent with its original webhook-id. 409 if "
    "its webhook was deleted or is disabled.",
    responses=problems(401, 404, 409),
)
async def retry_delivery(deliveryId: str, account_id: AccountId, hub: HubDep) -> DeliveryItem:
    return DeliveryItem.of(await hub.deliveries.retry(account_id, deliveryId))


@router.post(
    "/webhooks/{webhookId}/recover",
    response_model=RecoverResponse,
    summary="Requeue every failed or dead delivery since a time",
    description="`webhookId` is a richer webhook's id or delivery-status. Requeued deliveries "
    "are sent now, with their original webhook-id.",
    responses=problems(400, 401, 404, 409, 413),
)
async def recover_webhook(
    webhookId: str, request: RecoverRequest, account_id: AccountId, hub: HubDep
) -> RecoverResponse:
    count = await hub.deliveries.recover(account_id, webhookId, request.since)
    return RecoverResponse(requeued=count)


@router.post(
    "/webhooks/{webhookId}/enable",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Re-enable a webhook that was disabled after failing continuously",
    description="`webhookId` is a webhook's id, or `delivery-status`. Its queued deliveries "
    "resume.",
    tags=["webhooks"],
    responses=problems(401, 404),
)
async def enable_webhook(
    webhookId: str,
    account_id: AccountId,
    hub: HubDep,
) -> Response:
    await hub.operations.enable(account_id, webhookId)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
