"""The carrier ingest API (SPEC §11) from a carrier's side: its token and a message to report on."""

from __future__ import annotations

import httpx

from .api_client import SEND, AccountKey

__all__ = ["CARRIER", "TOKEN", "WABA_NUMBER", "sent_message"]

TOKEN = "carrier-token-123"
CARRIER = {"Authorization": f"Bearer {TOKEN}"}
WABA_NUMBER = "+393409876543"


async def sent_message(client: httpx.AsyncClient, key: AccountKey, channel: str = "sms") -> str:
    """A simulated message, left SENT (no workers run): its id."""
    request: dict[str, object] = {"destination": "+393401234567", "body": "hi", "simulation": True}
    if channel == "whatsapp":
        request["phoneNumberId"] = WABA_NUMBER
    response = await client.post(SEND.format(channel=channel), json=request, headers=key.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["messageId"])
