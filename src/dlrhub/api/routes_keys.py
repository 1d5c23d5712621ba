"""The account's API keys (SPEC §14): list, create, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.api.models_keys import ApiKeyList, ApiKeyRequest, ApiKeyView, NewApiKeyView

router = APIRouter(prefix="/api/partner-gateway/v1/account/api-keys", tags=["account"])


@router.get(
    "",
    response_model=ApiKeyList,
    summary="The account's API keys, revoked ones too (never the keys themselves)",
    responses=problems(401),
)
async def list_api_keys(account_id: AccountId, hub: HubDep) -> ApiKeyList:
    return ApiKeyList(items=[ApiKeyView.of(k) for k in await hub.accounts.list_keys(account_id)])


@router.post(
    "",
    response_model=NewApiKeyView,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key",
    description="The answer holds the key (`apiKey`): it is stored hashed and never shown again.",
    responses=problems(400, 401, 413),
)
async def create_api_key(
    request: ApiKeyRequest, account_id: AccountId, hub: HubDep
) -> NewApiKeyView:
    return NewApiKeyView.created(await hub.accounts.create_key(account_id, request.name))


@router.delete(
    "/{keyId}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke an API key",
    description="Every process refuses the key (401) within 5 seconds; it stays listed with "
    "its `revokedAt`. Revoking a revoked key again is a no-op (204). A key can revoke itself.",
    responses=problems(401, 404),
)
async def revoke_api_key(keyId: str, account_id: AccountId, hub: HubDep) -> Response:
    await hub.accounts.revoke_key(account_id, keyId)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
