"""Small pieces shared by the benchmark's processes: payloads, requests, the event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from dlrhub.domain.outgoing import OutgoingRequest, json_event_request
from dlrhub.domain.payloads import delivery_payload, encode_payload
from dlrhub.domain.signing import new_secret
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.outbound.client import USER_AGENT

T = TypeVar("T")

DESTINATION = "+393401234567"


def event_payload(message_id: str, customer_message_id: str, at: datetime | None = None) -> str:
    """A DELIVERY event exactly as dlrhub stores it (SPEC §6): the body a webhook receives."""
    payload = delivery_payload(
        message_id=message_id,
        customer_message_id=customer_message_id,
        destination=DESTINATION,
        status=MessageStatus.DELIVERED,
        channel=Channel.SMS,
        occurred_at=at or datetime.now(UTC),
        error=None,
    )
    return encode_payload(payload).decode()


def sample_secret() -> str:
    return new_secret(os.urandom(24))


def signed_request(url: str, event_id: str, payload: str, secret: str) -> OutgoingRequest:
    """The request dlrhub sends for a delivery-status webhook: same headers, same body."""
    return json_event_request(
        url=url,
        payload_json=payload.encode(),
        event_id=event_id,
        secrets=[secret],
        timestamp=int(datetime.now(UTC).timestamp()),
        user_agent=USER_AGENT,
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed, like dlrhub does."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)
