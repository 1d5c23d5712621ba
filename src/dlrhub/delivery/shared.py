"""The process's one delivery client, shared by the dispatcher and the test-webhook service.

Whoever needs it enters `session()`; the first user opens the aiohttp session and the last
one out closes it. The app's lifespan holds it for the life of the process, so the API's
"test webhook" and the dispatcher use the same connection pool, TLS settings and URL policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dlrhub.config import Settings
from dlrhub.delivery.client import DeliveryClient


class SharedClient:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = asyncio.Lock()
        self._users = 0
        self._client: DeliveryClient | None = None

    def _new_client(self) -> DeliveryClient:
        settings = self._settings
        return DeliveryClient(
            policy=settings.url_policy,
            timeout_s=settings.delivery_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            ca_bundle=settings.ca_bundle,
            max_connections=settings.max_in_flight,
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[DeliveryClient]:
        async with self._lock:
            if self._client is None:
                client = self._new_client()
                await client.__aenter__()
                self._client = client
            self._users += 1
            current = self._client
        try:
            yield current
        finally:
            async with self._lock:
                self._users -= 1
                if self._users == 0 and self._client is not None:
                    closing, self._client = self._client, None
                    await closing.__aexit__(None, None, None)
