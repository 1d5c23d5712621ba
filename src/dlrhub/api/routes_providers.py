"""What Meta and Google post (SPEC §11.3, §11.4): WhatsApp Cloud API notifications and their
verification handshake, and Google RBM agent events and their verification request.

The bodies are read raw: the signatures are over the exact bytes (Meta) or over the decoded
`message.data` (Google). Answers are quick and 200 for everything the provider sent, used or
not; 401 only for a missing or wrong signature, 403 for a wrong verification token.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from dlrhub.api.deps import HubDep, problems
from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.metrics import Metrics
from dlrhub.services.provider_ingest import IngestResult

router = APIRouter(prefix="/carrier/v1", tags=["carrier"])

MAX_CHALLENGE = 256


class IngestAnswer(BaseModel):
    statuses: dict[str, int] = Field(description="applied, ignored, unmatched, other event …")
    replies: dict[str, int] = Field(description="taken, unknown (no registered number), refused")


def _answer(request: Request, provider: str, result: IngestResult) -> IngestAnswer:
    metrics: Metrics = request.app.state.metrics
    metrics.providers.record(provider, result.statuses, result.replies)
    return IngestAnswer(statuses=dict(result.statuses), replies=dict(result.replies))


_TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


@router.get(
    "/whatsapp",
    response_model=None,
    summary="Meta's webhook verification",
    description="Answers `hub.challenge` when `hub.verify_token` is DLRHUB_WHATSAPP_VERIFY_TOKEN.",
    responses={200: {"description": "The challenge, as text", **_TEXT}, **problems(400, 403)},
)
async def whatsapp_verify(
    hub: HubDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=MAX_CHALLENGE)] = "",
) -> PlainTextResponse:
    return PlainTextResponse(hub.whatsapp_ingest.verify_subscription(mode, token, challenge))


@router.post(
    "/whatsapp",
    response_model=IngestAnswer,
    summary="WhatsApp Cloud API notifications",
    description="Statuses and messages, signed with X-Hub-Signature-256 (the app secret).",
    responses=problems(400, 401, 413),
)
async def whatsapp_notify(
    request: Request,
    hub: HubDep,
    signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
) -> IngestAnswer:
    result = await hub.whatsapp_ingest.notify(await request.body(), signature)
    return _answer(request, "whatsapp", result)


@router.post(
    "/rbm",
    response_model=None,
    summary="Google RBM agent events",
    description=(
        "The verification request (`{clientToken, secret}` → the secret as text) and events "
        "(`{message: {data}}`, X-Goog-Signature over the decoded data)."
    ),
    responses=problems(400, 401, 403, 413),
)
async def rbm_event(
    request: Request,
    hub: HubDep,
    signature: Annotated[str | None, Header(alias="X-Goog-Signature")] = None,
) -> IngestAnswer | PlainTextResponse:
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the parser's depth
        raise InvalidInput(
            "the body is not JSON", errors=[FieldError("body", "must be a JSON object")]
        ) from None
    secret = hub.rbm_ingest.verification_secret(body)
    if secret is not None:
        return PlainTextResponse(secret)
    return _answer(request, "rbm", await hub.rbm_ingest.event(body, signature))
