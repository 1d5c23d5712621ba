"""The exact HTTP request one delivery attempt sends (SPEC §7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dlrhub.domain.signing import signature_headers

SIGNATURE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})


@dataclass(frozen=True)
class OutgoingRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def signed_request(
    *,
    method: str,
    url: str,
    content_type: str | None,
    body: bytes,
    signed_content: bytes,
    event_id: str,
    secrets: Sequence[str],
    timestamp: int,
    user_agent: str,
    custom_headers: Mapping[str, str] | None = None,
) -> OutgoingRequest:
    """Assemble headers: the customer's own first, then ours, so theirs can never override
    the content type, the user agent or the signature."""
    protected = SIGNATURE_HEADERS | {"content-type", "user-agent", "content-length", "host"}
    headers = {
        name: value
        for name, value in (custom_headers or {}).items()
        if name.lower() not in protected
    }
    headers["User-Agent"] = user_agent
    if content_type is not None:
        headers["Content-Type"] = content_type
    headers.update(signature_headers(secrets, event_id, timestamp, signed_content))
    return OutgoingRequest(method=method, url=url, headers=headers, body=body)


def json_event_request(
    *,
    url: str,
    payload_json: bytes,
    event_id: str,
    secrets: Sequence[str],
    timestamp: int,
    user_agent: str,
) -> OutgoingRequest:
    """The delivery-status webhook's request: the event's JSON, POSTed and signed as is."""
    return signed_request(
        method="POST",
        url=url,
        content_type="application/json",
        body=payload_json,
        signed_content=payload_json,
        event_id=event_id,
        secrets=secrets,
        timestamp=timestamp,
        user_agent=user_agent,
    )
