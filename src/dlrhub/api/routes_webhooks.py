"""The delivery-status webhook (SPEC §5) and the account's signing secret (§7)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.api.models import (
    DeliveryStatusWebhookRequest,
    DeliveryStatusWebhookView,
    SigningSecretView,
    WabaNumberList,
    WabaNumberView,
)
from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.timestamps import format_timestamp
from dlrhub.services.accounts import SigningSecret

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


@router.post(
    "/webhooks/{webhookId}/enable",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Re-enable a webhook that was disabled after failing continuously",
    description="`webhookId` is a webhook's id, or `delivery-status`. Its queued deliveries "
    "resume.",
    responses=problems(401, 404),
)
async def enable_webhook(
    webhookId: str,
    account_id: AccountId,
    hub: HubDep,
) -> Response:
    await hub.operations.enable(account_id, webhookId)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/account/signing-secret",
    response_model=SigningSecretView,
    tags=["account"],
    summary="The secret that signs your webhooks",
    responses=problems(401),
)
async def get_signing_secret(account_id: AccountId, hub: HubDep) -> SigningSecretView:
    return _secret_view(await hub.accounts.signing_secret(account_id))


@router.post(
    "/account/signing-secret/rotate",
    response_model=SigningSecretView,
    tags=["account"],
    summary="Rotate the signing secret (the old one signs for 24 h more)",
    responses=problems(401),
)
async def rotate_signing_secret(account_id: AccountId, hub: HubDep) -> SigningSecretView:
    return _secret_view(await hub.accounts.rotate_signing_secret(account_id))


def _secret_view(secret: SigningSecret) -> SigningSecretView:
    return SigningSecretView(
        secret=secret.secret,
        createdAt=format_timestamp(secret.created_at),
        previousSecretExpiresAt=None
        if secret.previous_expires_at is None
        else format_timestamp(secret.previous_expires_at),
    )


@router.get(
    "/whatsapp/numbers",
    response_model=WabaNumberList,
    tags=["account"],
    summary="The account's WhatsApp business numbers",
    responses=problems(401),
)
async def waba_numbers(account_id: AccountId, hub: HubDep) -> WabaNumberList:
    numbers = await hub.accounts.waba_numbers(account_id)
    return WabaNumberList(
        items=[WabaNumberView(number=n, createdAt=format_timestamp(at)) for n, at in numbers]
    )
