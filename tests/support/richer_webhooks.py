"""The richer webhooks (SPEC §8) from the customer's side: request bodies, creating one, a
receiver that keeps raw targets, and the three documented encodings written independently."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from aiohttp import web

from .api_client import API, AccountKey
from .receiver import ReceivedRequest, Receiver

__all__ = [
    "DLR_NAMES",
    "MO_NAMES",
    "NUMBER_A",
    "NUMBER_B",
    "WA_DLR_NAMES",
    "RawReceiver",
    "create_webhook",
    "form",
    "json_document",
    "webhook_body",
    "xml_document",
]

NUMBER_A = "+393409876543"
NUMBER_B = "+393409876500"

DLR_NAMES = {
    "transactionId": "ref",
    "messageId": "msgid",
    "errorCode": "err",
    "mobileNumber": "msisdn",
    "receivedTime": "submitted",
    "deliveredTime": "delivered",
}
WA_DLR_NAMES = {**DLR_NAMES, "readTime": "read_at", "status": "stat"}
MO_NAMES = {
    "messageId": "mo_id",
    "mobileNumber": "from",
    "text": "body",
    "receivedTime": "received",
    "messageType": "kind",
}


class RawReceiver(Receiver):
    """A Receiver that also keeps each request's raw target (path and query exactly as sent,
    before any decoding), keyed by (path, webhook-id)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw_targets: dict[tuple[str, str | None], str] = {}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.raw_targets[(request.path, request.headers.get("webhook-id"))] = request.raw_path
        return await super()._handle(request)

    def raw_query(self, received: ReceivedRequest) -> str:
        target = self.raw_targets[(received.path, received.header("webhook-id"))]
        return target.partition("?")[2]


def webhook_body(
    product: str,
    report_type: str,
    method: str,
    url: str,
    *,
    waba_number: str | None = None,
    parameters: dict[str, str] | None = None,
    custom_params: dict[str, str] | None = None,
    custom_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    if parameters is None:
        if report_type == "MO":
            parameters = MO_NAMES
        else:
            parameters = WA_DLR_NAMES if product == "WHATSAPP" else DLR_NAMES
    body: dict[str, Any] = {
        "product": product,
        "reportType": report_type,
        "method": method,
        "url": url,
        "parameters": parameters,
        "customParams": custom_params or {},
        "customHeaders": custom_headers or {},
    }
    if waba_number is not None:
        body["wabaNumber"] = waba_number
    return body


async def create_webhook(
    api: httpx.AsyncClient, account: AccountKey, body: dict[str, Any]
) -> dict[str, Any]:
    response = await api.post(f"{API}/webhooks", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def form(pairs: list[tuple[str, str]]) -> str:
    """Percent-encoding as SPEC §8 documents it (UTF-8, space as %20), written independently."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def xml_document(pairs: list[tuple[str, str]]) -> str:
    def escape(value: str) -> str:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return value.replace("\r", "&#13;")

    elements = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in pairs)
    return f'<?xml version="1.0" encoding="UTF-8"?><report>{elements}</report>'


def json_document(pairs: list[tuple[str, str]]) -> str:
    return json.dumps(dict(pairs), ensure_ascii=False, separators=(",", ":"))
