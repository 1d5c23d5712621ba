"""The process's delivery clients: one for real deliveries, one for "test webhook" calls.

Whoever needs one enters `session()`; the first user opens the aiohttp session and the last
one out closes it. The app's lifespan holds both for the life of the process.

Two clients, two connection pools (SPEC §14): test calls are fired on demand by customers, at
any endpoint they like, including one that accepts connections and never answers. Sharing
the dispatcher's pool, such calls held its connections for the whole timeout, and since
aiohttp counts waiting for a free connection toward a request's total timeout, other
accounts' deliveries queued behind them and failed. Test calls now have their own small pool
(`test_pool_size`), and are limited per account besides (services/custom_webhooks.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dlrhub.config import Settings
from dlrhub.delivery.client import DeliveryClient


class SharedClient:
    def __init__(self, settings: Settings, *, max_connections: int | None = None) -> None:
        self._settings = settings
        # The deliveries' pool has a connection for every attempt the dispatcher may run at
        # once (`max_in_flight`), and nothing else uses it: an attempt's request therefore
        # never waits for a free connection, and its timeout (aiohttp's `total`, which would
        # include such a wait) starts when its own request starts. An attempt gives its
        # connection back before its in-flight slot is freed (the response is released
        # inside `DeliveryClient.send`), so the next attempt always finds one.
        self._max_connections = max_connections or settings.max_in_flight
        self._lock = asyncio.Lock()
        self._users = 0
        self._client: DeliveryClient | None = None

    @classmethod
    def for_tests(cls, settings: Settings) -> SharedClient:
        """The pool of "test webhook" calls: small, and never the dispatcher's. A test may
        wait here for a connection (within its own timeout) when many run at once; only
        tests wait, never deliveries."""
        return cls(settings, max_connections=settings.test_pool_size)

    @property
    def max_connections(self) -> int:
        return self._max_connections

    def _new_client(self) -> DeliveryClient:
        settings = self._settings
        return DeliveryClient(
            policy=settings.url_policy,
            timeout_s=settings.delivery_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            ca_bundle=settings.ca_bundle,
            max_connections=self._max_connections,
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
