"""The account's own settings: the secret that signs its webhooks (SPEC §7) and its WhatsApp
business numbers."""

from __future__ import annotations

from fastapi import APIRouter

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.api.models import SigningSecretView, WabaNumberList, WabaNumberView
from dlrhub.domain.timestamps import format_timestamp
from dlrhub.services.accounts import SigningSecret

router = APIRouter(prefix="/api/partner-gateway/v1", tags=["account"])


@router.get(
    "/account/signing-secret",
    response_model=SigningSecretView,
    summary="The secret that signs your webhooks",
    responses=problems(401),
)
async def get_signing_secret(account_id: AccountId, hub: HubDep) -> SigningSecretView:
    return _secret_view(await hub.accounts.signing_secret(account_id))


@router.post(
    "/account/signing-secret/rotate",
    response_model=SigningSecretView,
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
    summary="The account's WhatsApp business numbers",
    responses=problems(401),
)
async def waba_numbers(account_id: AccountId, hub: HubDep) -> WabaNumberList:
    numbers = await hub.accounts.waba_numbers(account_id)
    return WabaNumberList(
        items=[WabaNumberView(number=n, createdAt=format_timestamp(at)) for n, at in numbers]
    )
