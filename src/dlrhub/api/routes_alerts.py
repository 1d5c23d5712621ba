"""The account's alerts URL (docs/alerts.md): where operational events about its webhooks go
(webhook.failing, webhook.disabled, webhook.recovered)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.api.models_alerts import AlertsUrlRequest, AlertsUrlView

router = APIRouter(prefix="/api/partner-gateway/v1", tags=["account"])
PATH = "/account/alerts"


@router.get(
    PATH,
    response_model=AlertsUrlView,
    summary="The alerts URL",
    responses=problems(401, 404),
)
async def get_alerts_url(account_id: AccountId, hub: HubDep) -> AlertsUrlView:
    return AlertsUrlView.of(await hub.alerts.get(account_id))


@router.put(
    PATH,
    response_model=AlertsUrlView,
    summary="Set the alerts URL",
    description="Creates it (201) or replaces its URL (200), effective for the next alert; "
    "setting it again enables it if it had been disabled.",
    responses={201: {"description": "Created", "model": AlertsUrlView}, **problems(400, 401, 413)},
)
async def put_alerts_url(
    request: AlertsUrlRequest, account_id: AccountId, hub: HubDep, response: Response
) -> AlertsUrlView:
    webhook, created = await hub.alerts.put(account_id, request.url)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return AlertsUrlView.of(webhook)


@router.delete(
    PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove the alerts URL",
    description="Nothing further is queued for it; attempts already in flight may still arrive.",
    responses=problems(401, 404),
)
async def delete_alerts_url(account_id: AccountId, hub: HubDep) -> Response:
    await hub.alerts.delete(account_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
