"""A client shared by its users: the process has two, one for deliveries, one for "test webhook".

Whoever needs one enters `session()`; the first user opens the aiohttp session and the last
one out closes it. The app's lifespan holds both for the life of the process.

Two clients, two connection pools (SPEC §14): test calls are fired on demand by customers, at
any endpoint they like, including one that accepts connections and never answers. Sharing
the dispatcher's pool, such calls held its connections for the whole timeout, and since
aiohttp counts waiting for a free connection toward a request's total timeout, other
accounts' deliveries queued behind them and failed. Test calls now have their own small pool
(`test_pool_size`), and are limited per account besides (services/richer_webhooks.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dlrhub.outbound.client import ClientConfig, DeliveryClient


class SharedClient:
    """The pool sizes are the wiring's choice (wiring/hub.py): the deliveries' pool has a
    connection for every attempt the dispatcher may run at once, so an attempt never waits
    for a free connection and its timeout (aiohttp's `total`, which would include such a
    wait) starts with its own request; the tests' pool is small, and only tests wait in it."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._lock = asyncio.Lock()
        self._users = 0
        self._client: DeliveryClient | None = None

    @property
    def max_connections(self) -> int:
        return self._config.max_connections

    def _new_client(self) -> DeliveryClient:
        return DeliveryClient.from_config(self._config)

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
