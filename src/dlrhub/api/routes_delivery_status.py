"""The delivery-status webhook (SPEC §5): the account's one callback for every event."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.api.models import DeliveryStatusWebhookRequest, DeliveryStatusWebhookView
from dlrhub.domain.errors import FieldError, InvalidInput

router = APIRouter(prefix="/api/partner-gateway/v1", tags=["webhooks"])
PATH = "/webhooks/delivery-status"


def _callback_url(request: DeliveryStatusWebhookRequest) -> str:
    if request.method is not None and request.method.upper() != "POST":
        raise InvalidInput(
            "the delivery-status webhook is always called with POST",
            errors=[FieldError("method", "must be POST")],
        )
    url = request.callbackUrl if request.callbackUrl is not None else request.url
    if url is None:
        raise InvalidInput(
            "callbackUrl is required", errors=[FieldError("callbackUrl", "is required")]
        )
    return url


@router.get(
    PATH,
    response_model=DeliveryStatusWebhookView,
    summary="Get the delivery-status webhook",
    responses=problems(401, 404),
)
async def get_delivery_status_webhook(
    account_id: AccountId, hub: HubDep
) -> DeliveryStatusWebhookView:
    return DeliveryStatusWebhookView.of(await hub.delivery_status.get(account_id))


@router.post(
    PATH,
    response_model=DeliveryStatusWebhookView,
    status_code=status.HTTP_201_CREATED,
    summary="Configure the delivery-status webhook",
    description="One per account: 409 if one exists (use PUT to change it).",
    responses=problems(400, 401, 409, 413),
)
async def create_delivery_status_webhook(
    request: DeliveryStatusWebhookRequest, account_id: AccountId, hub: HubDep
) -> DeliveryStatusWebhookView:
    webhook = await hub.delivery_status.create(account_id, _callback_url(request))
    return DeliveryStatusWebhookView.of(webhook)


@router.put(
    PATH,
    response_model=DeliveryStatusWebhookView,
    summary="Change the delivery-status webhook's URL",
    description="Effective for the next event. 404 if none is configured.",
    responses=problems(400, 401, 404, 413),
)
async def update_delivery_status_webhook(
    request: DeliveryStatusWebhookRequest, account_id: AccountId, hub: HubDep
) -> DeliveryStatusWebhookView:
    webhook = await hub.delivery_status.update(account_id, _callback_url(request))
    return DeliveryStatusWebhookView.of(webhook)


@router.delete(
    PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke the delivery-status webhook",
    description="Nothing further is queued for it; attempts already in flight may still arrive.",
    responses=problems(401, 404),
)
async def delete_delivery_status_webhook(account_id: AccountId, hub: HubDep) -> Response:
    await hub.delivery_status.delete(account_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
