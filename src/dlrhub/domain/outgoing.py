"""The exact HTTP request one delivery attempt sends (SPEC §7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dlrhub.domain.signing import signature_headers

SIGNATURE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})
# Headers the platform owns (lower case): the signature, and what would change how the body
# is framed or the connection used. A webhook cannot be configured with one, and a custom
# header stored under one of these names is never sent.
PROTECTED_HEADERS = SIGNATURE_HEADERS | {
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "user-agent",
    "expect",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-connection",
}


# What an attempt keeps of a response body: its first KiB says why a receiver refused, and one
# is kept for every attempt of every delivery.
RESPONSE_EXCERPT_BYTES = 1024


def response_excerpt(body: bytes) -> str:
    """The kept start of a response body, as text (bytes that are not UTF-8 become U+FFFD)."""
    return body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


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
    headers = {
        name: value
        for name, value in (custom_headers or {}).items()
        if name.lower() not in PROTECTED_HEADERS
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
