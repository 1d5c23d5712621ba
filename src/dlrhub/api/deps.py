"""Dependencies shared by every route: the services and the caller's account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from dlrhub.api.problems import Problem
from dlrhub.services.catalog import Services

api_key_header = APIKeyHeader(
    name="X-Api-Key", auto_error=False, description="Your account's API key."
)


async def get_hub(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop
    # per request that costs time and lets concurrent requests overtake each other.
    hub: Services = request.app.state.hub
    return hub


HubDep = Annotated[Services, Depends(get_hub)]


async def get_account_id(
    hub: HubDep, api_key: Annotated[str | None, Security(api_key_header)]
) -> str:
    return await hub.accounts.authenticate(api_key)


AccountId = Annotated[str, Depends(get_account_id)]


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI descriptions of the error responses a route can give."""
    words = {
        400: "Invalid request (problem+json, with per-field errors)",
        401: "Missing, unknown or revoked X-Api-Key (carriers: token or signature)",
        403: "Forbidden (a verification token that does not match)",
        404: "Not found (or belongs to another account)",
        409: "Conflict with the current state",
        413: "Request body too large",
        422: "Valid, but cannot be processed",
    }
    return {
        status: {
            "model": Problem,
            "description": words[status],
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }
