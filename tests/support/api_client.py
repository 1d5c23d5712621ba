"""Calling the partner API as a customer: the account's key, the paths, and the calls most
tests make (send, simulate an inbound message, read the signing secret)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "API",
    "DS",
    "INBOUND",
    "SECRET",
    "SEND",
    "STATUS",
    "AccountKey",
    "inbound",
    "send",
    "signing_secret",
]

API = "/api/partner-gateway/v1"
SEND = "/api/message-server/{channel}/send"
DS = API + "/webhooks/delivery-status"
STATUS = API + "/messages/status"
SECRET = API + "/account/signing-secret"
INBOUND = API + "/simulate/inbound"


@dataclass(frozen=True)
class AccountKey:
    account_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}


async def send(
    api: httpx.AsyncClient, account: AccountKey, channel: str, **fields: Any
) -> dict[str, Any]:
    """A simulated message with `fields` (body "hello" unless given); must be 201."""
    body = {"body": "hello", "simulation": True, **fields}
    response = await api.post(
        SEND.format(channel=channel.lower()), json=body, headers=account.headers
    )
    assert response.status_code == 201, response.text
    sent: dict[str, Any] = response.json()
    return sent


async def inbound(
    api: httpx.AsyncClient,
    account: AccountKey,
    channel: str,
    source: str,
    destination: str,
    text: str,
) -> str:
    """A simulated inbound message (SPEC §5); returns its event id."""
    response = await api.post(
        INBOUND,
        json={"source": source, "destination": destination, "channel": channel, "text": text},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    event_id: str = response.json()["eventId"]
    return event_id


async def signing_secret(api: httpx.AsyncClient, account: AccountKey) -> str:
    response = await api.get(SECRET, headers=account.headers)
    secret: str = response.json()["secret"]
    return secret
