"""A cancelled attempt is a cancellation, never a recorded "timed out" failure.

On Python 3.11, `asyncio.timeout` turns a cancel that lands as its own deadline fires into
TimeoutError. The fake session below does exactly that, deterministically, in place of the
real race between aiohttp's timer and the dispatcher's shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from dlrhub.domain.outgoing import OutgoingRequest
from dlrhub.domain.urlpolicy import UrlPolicy
from dlrhub.outbound.client import DeliveryClient


class _TimeoutAbsorbingCancel:
    """Cancels the calling task while its request is under way and answers the cancel the
    way Python 3.11's timeout does when both fire together: with TimeoutError."""

    def __init__(self, *, cancel: bool) -> None:
        self._cancel = cancel

    @asynccontextmanager
    async def request(self, *_args: Any, **_kwargs: Any) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        if self._cancel:
            task.cancel()
        # Absorbed, as the timeout context does (it does not uncancel ours).
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        raise TimeoutError
        yield  # pragma: no cover - makes this an async generator


def _client(session: _TimeoutAbsorbingCancel) -> DeliveryClient:
    client = DeliveryClient(
        policy=UrlPolicy(allow_http=True, allow_private=True),
        timeout_s=5,
        connect_timeout_s=2,
        ca_bundle=None,
        max_connections=1,
    )
    client._session = session  # type: ignore[assignment]
    return client


_REQUEST = OutgoingRequest(method="POST", url="http://127.0.0.1:9/hook", headers={}, body=b"{}")


async def test_a_cancel_absorbed_by_the_timeout_is_still_a_cancel() -> None:
    task = asyncio.create_task(_client(_TimeoutAbsorbingCancel(cancel=True)).send(_REQUEST))
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_real_timeout_is_a_readable_attempt() -> None:
    result = await _client(_TimeoutAbsorbingCancel(cancel=False)).send(_REQUEST)
    assert result.status is None
    assert result.error == "timed out after 5 s"
