"""The request one attempt sends: the headers dlrhub owns, and what it keeps of the answer."""

from __future__ import annotations

import pytest

from dlrhub.domain.outgoing import (
    PROTECTED_HEADERS,
    RESPONSE_EXCERPT_BYTES,
    json_event_request,
    response_excerpt,
    signed_request,
)
from dlrhub.domain.signing import new_secret, signature_headers
from dlrhub.domain.webhook_rules import header_name_problem

OWNED = sorted(PROTECTED_HEADERS)


def _headers(custom: dict[str, str]) -> dict[str, str]:
    request = signed_request(
        method="POST",
        url="https://hooks.example.com/dlr",
        content_type="application/json",
        body=b"{}",
        signed_content=b"{}",
        event_id="evt_1",
        secrets=[new_secret(bytes(32))],
        timestamp=1_700_000_000,
        user_agent="dlrhub/test",
        custom_headers=custom,
    )
    return request.headers


@pytest.mark.parametrize("name", OWNED)
def test_a_header_dlrhub_owns_cannot_be_configured(name: str) -> None:
    assert header_name_problem(name) == f"{name} is set by dlrhub and cannot be replaced"
    assert header_name_problem(name.title()) is not None


@pytest.mark.parametrize("name", OWNED)
def test_a_stored_custom_header_dlrhub_owns_is_never_sent(name: str) -> None:
    headers = _headers({name.title(): "from the customer", "X-Tenant": "t1"})
    assert headers["X-Tenant"] == "t1"
    assert "from the customer" not in headers.values()


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        (b"", ""),
        (b"refused", "refused"),
        (b"x" * (RESPONSE_EXCERPT_BYTES + 10), "x" * RESPONSE_EXCERPT_BYTES),
        (b"\xff\xfeok", "\ufffd\ufffdok"),
        # A character cut in half at the limit becomes one replacement character.
        (b"x" * (RESPONSE_EXCERPT_BYTES - 1) + "é".encode(), "x" * 1023 + "\ufffd"),
    ],
)
def test_response_excerpt(body: bytes, excerpt: str) -> None:
    assert RESPONSE_EXCERPT_BYTES == 1024
    assert response_excerpt(body) == excerpt


def test_the_delivery_status_request_posts_the_event_json_signed_as_is() -> None:
    secret = new_secret(bytes(range(32)))
    payload = b'{"eventType":"DELIVERY"}'
    request = json_event_request(
        url="https://hooks.example.com/dlr",
        payload_json=payload,
        event_id="evt_9",
        secrets=[secret],
        timestamp=1_700_000_000,
        user_agent="dlrhub/9",
    )
    assert (request.method, request.url, request.body) == (
        "POST",
        "https://hooks.example.com/dlr",
        payload,
    )
    assert request.headers == {
        "User-Agent": "dlrhub/9",
        "Content-Type": "application/json",
        **signature_headers([secret], "evt_9", 1_700_000_000, payload),
    }
