"""Richer webhooks (SPEC §8): per product and report type, four send methods, test."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.api.models_richer_webhooks import TestResultView as ResultView
from dlrhub.api.models_richer_webhooks import WebhookList, WebhookRequest, WebhookView
from dlrhub.api.problems import Problem
from dlrhub.services.richer_webhooks import spec_of

# Registered after routes_delivery_status, whose /webhooks/delivery-status routes must win.
router = APIRouter(prefix="/api/partner-gateway/v1", tags=["richer webhooks"])
ITEM = "/webhooks/{webhookId}"


def _over_limit(status: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI: a per-account limit's refusal (SPEC §14); the body's `limit` and `value`
    name it, and a 429 also carries `retryAfter` and the `Retry-After` header."""
    words = {
        422: "A per-account count limit is reached (problem+json naming the limit)",
        429: "A per-account rate or concurrency limit (problem+json; Retry-After)",
    }
    response: dict[str, object] = {
        "model": Problem,
        "description": words[status],
        "content": {"application/problem+json": {}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    return {status: response}


@router.get(
    "/webhooks",
    response_model=WebhookList,
    summary="List the richer webhooks",
    responses=problems(401),
)
async def list_webhooks(account_id: AccountId, hub: HubDep) -> WebhookList:
    webhooks = await hub.richer_webhooks.list(account_id)
    return WebhookList(items=[WebhookView.of(w) for w in webhooks])


@router.post(
    "/webhooks",
    response_model=WebhookView,
    status_code=status.HTTP_201_CREATED,
    summary="Create a richer webhook",
    description="Up to `DLRHUB_MAX_WEBHOOKS_PER_ACCOUNT` (default 20) per account, beside the "
    "delivery-status webhook; one more is `422`, naming the limit and its value. Each event "
    "goes to every webhook matching its channel, report type and business number.",
    responses={**problems(400, 401, 413), **_over_limit(422)},
)
async def create_webhook(
    request: WebhookRequest, account_id: AccountId, hub: HubDep
) -> WebhookView:
    return WebhookView.of(await hub.richer_webhooks.create(account_id, request.spec()))


@router.get(ITEM, response_model=WebhookView, summary="Get a webhook", responses=problems(401, 404))
async def get_webhook(webhookId: str, account_id: AccountId, hub: HubDep) -> WebhookView:
    return WebhookView.of(await hub.richer_webhooks.get(account_id, webhookId))


@router.put(
    ITEM,
    response_model=WebhookView,
    summary="Replace a webhook's configuration",
    description="Effective for the next event; a disabled webhook is enabled again.",
    responses=problems(400, 401, 404, 413),
)
async def update_webhook(
    webhookId: str, request: WebhookRequest, account_id: AccountId, hub: HubDep
) -> WebhookView:
    webhook = await hub.richer_webhooks.update(account_id, webhookId, request.spec())
    return WebhookView.of(webhook)


@router.delete(
    ITEM,
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a webhook",
    description="Nothing further is queued for it; attempts already in flight may still arrive.",
    responses=problems(401, 404),
)
async def delete_webhook(webhookId: str, account_id: AccountId, hub: HubDep) -> Response:
    await hub.richer_webhooks.delete(account_id, webhookId)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    f"{ITEM}/test",
    response_model=ResultView,
    summary="Send a sample event to the webhook",
    description="Sends a made-up event in the webhook's own format, signed like a real one, "
    "and returns what was sent and what came back. A timeout, a TLS failure or a refused "
    "connection is reported in `error` (still 200). Per account, at most "
    "`DLRHUB_TEST_RATE_PER_MINUTE` (default 10) tests a minute and "
    "`DLRHUB_TEST_CONCURRENCY_PER_ACCOUNT` (default 2) at once: over either is `429` with "
    "`Retry-After` (seconds), naming the limit and its value.",
    responses={**problems(401, 404), **_over_limit(429)},
)
async def test_webhook(webhookId: str, account_id: AccountId, hub: HubDep) -> ResultView:
    webhook = await hub.richer_webhooks.get(account_id, webhookId)
    result = await hub.richer_webhooks.test(account_id, spec_of(webhook))
    return ResultView.of(result)
