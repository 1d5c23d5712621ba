"""The one HTTP client that talks to customers' endpoints: aiohttp, one session per pool."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from dlrhub import __version__
from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.outgoing import RESPONSE_EXCERPT_BYTES, OutgoingRequest
from dlrhub.domain.urlpolicy import (
    FORBIDDEN_TARGET,
    UrlPolicy,
    check_callback_url,
    client_url,
    is_forbidden_address,
)

USER_AGENT = f"dlrhub/{__version__}"


@dataclass(frozen=True)
class ClientConfig:
    """What a client needs to know: the address policy, its timeouts, trusted roots, pool size."""

    policy: UrlPolicy
    timeout_s: float
    connect_timeout_s: float
    ca_bundle: Path | None
    max_connections: int


@dataclass(frozen=True)
class AttemptResult:
    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


class PolicyRefusal(OSError):
    """The URL policy refused to connect. An OSError so that aiohttp carries it out as the
    cause of its connection error; its text never names the address a host resolved to."""


class PolicyResolver(AbstractResolver):
    """Refuses host names that resolve to private addresses, checked at connect time so a
    DNS answer that changes after registration cannot reach the internal network."""

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        allowed = [r for r in results if not is_forbidden_address(r["host"])]
        if not allowed:
            raise PolicyRefusal(errno.EACCES, f"{host} resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket(addr_info: AddrInfoType) -> socket.socket:
    """aiohttp's socket factory, called for every address it is about to connect to.

    aiohttp never asks the resolver about a literal IP ("https://[::ffff:7f00:1]/"), so the
    resolver alone would miss them; every connection, however its address was found, has to
    come through here, and a refused one never gets a socket, let alone a byte on the wire.
    """
    family, type_, proto, _, sockaddr = addr_info
    if is_forbidden_address(_address_text(family, sockaddr)):
        raise PolicyRefusal(errno.EACCES, FORBIDDEN_TARGET)
    return socket.socket(family=family, type=type_, proto=proto)


def _address_text(family: int, sockaddr: tuple[Any, ...]) -> str:
    host = str(sockaddr[0])
    # A scoped IPv6 address keeps its zone in the fourth item, not in the host text.
    if family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3] and "%" not in host:
        return f"{host}%{sockaddr[3]}"
    return host


def policy_connector(
    policy: UrlPolicy,
    *,
    ssl_context: ssl.SSLContext,
    limit: int,
    resolver: AbstractResolver | None = None,
) -> aiohttp.TCPConnector:
    """A connector that enforces the address policy at connect time, for names (through the
    resolver) and for every socket (literal IPs included). Dev mode allows everything.
    `resolver` replaces the system's name lookups (tests use a fake one)."""
    return aiohttp.TCPConnector(
        limit=limit,
        ssl=ssl_context,
        resolver=PolicyResolver(policy.allow_private, resolver),
        socket_factory=None if policy.allow_private else guarded_socket,
        keepalive_timeout=30,
    )


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """The system's trusted roots, plus the operator's extra ones; verification always on."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


class DeliveryClient:
    def __init__(
        self,
        *,
        policy: UrlPolicy,
        timeout_s: float,
        connect_timeout_s: float,
        ca_bundle: Path | None,
        max_connections: int,
    ) -> None:
        self._policy = policy
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self._ssl = tls_context(ca_bundle)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._url_verdicts: dict[str, str | None] = {}

    @classmethod
    def from_config(cls, config: ClientConfig) -> DeliveryClient:
        return cls(
            policy=config.policy,
            timeout_s=config.timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            ca_bundle=config.ca_bundle,
            max_connections=config.max_connections,
        )

    def _url_refusal(self, url: str) -> str | None:
        """Why the URL policy refuses `url`, or None; remembered, since a dispatcher sends to
        the same few URLs over and over (host names are checked again at connect time)."""
        if url not in self._url_verdicts:
            if len(self._url_verdicts) > 10_000:
                self._url_verdicts.clear()
            try:
                check_callback_url(url, self._policy, field="url")
                self._url_verdicts[url] = None
            except InvalidInput as exc:
                self._url_verdicts[url] = exc.errors[0].message
        return self._url_verdicts[url]

    async def __aenter__(self) -> DeliveryClient:
        connector = policy_connector(
            self._policy, ssl_context=self._ssl, limit=self._max_connections
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, request: OutgoingRequest, *, keep_body: int = RESPONSE_EXCERPT_BYTES
    ) -> AttemptResult:
        """One attempt; every failure comes back as a readable `error`, never an exception."""
        assert self._session is not None, "use DeliveryClient as an async context manager"
        started = time.monotonic()

        def done(
            status: int | None, headers: dict[str, str], body: bytes, error: str | None
        ) -> AttemptResult:
            duration_ms = int((time.monotonic() - started) * 1000)
            return AttemptResult(status, headers, body, error, duration_ms)

        refusal = self._url_refusal(request.url)
        if refusal is not None:
            return done(None, {}, b"", f"refused by URL policy: {refusal}")
        try:
            async with self._session.request(
                request.method,
                # The very URL object whose host the policy judged.
                client_url(request.url),
                headers=request.headers,
                data=request.body if request.method != "GET" else None,
                allow_redirects=False,
            ) as response:
                body = await _read_prefix(response, keep_body)
                return done(response.status, dict(response.headers), body, None)
        except TimeoutError:
            if _stop_requested():
                raise asyncio.CancelledError from None
            return done(None, {}, b"", f"timed out after {self._timeout_s:g} s")
        except aiohttp.ClientConnectorCertificateError as exc:
            return done(None, {}, b"", f"TLS certificate not trusted: {exc.certificate_error}")
        except aiohttp.ClientSSLError as exc:
            return done(None, {}, b"", f"TLS error: {exc}")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, PolicyRefusal):
                return done(None, {}, b"", f"refused by URL policy: {exc.os_error.strerror}")
            return done(None, {}, b"", f"could not connect: {_reason(exc.os_error)}")
        except aiohttp.ClientError as exc:
            return done(None, {}, b"", f"request failed: {exc.__class__.__name__}: {exc}")
        except OSError as exc:
            return done(None, {}, b"", f"request failed: {_reason(exc)}")


def _stop_requested() -> bool:
    """Whether this task was cancelled. On Python 3.11 a cancel that lands just as aiohttp's
    own timeout fires comes out as TimeoutError; answering it with a "timed out" attempt would
    record a failure for a delivery the dispatcher is handing back at shutdown."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _read_prefix(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most `limit` bytes of the body: a huge response must not cost us memory."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reason(os_error: OSError) -> str:
    """Why a connection failed, in words that never name an address: the socket layer's own
    texts do ("Connect call failed ('10.0.0.5', 443)"), and that would tell a customer what
    a name resolved to."""
    if isinstance(os_error, socket.gaierror) and os_error.strerror:
        return os_error.strerror
    if isinstance(os_error.errno, int) and os_error.errno > 0:
        return os.strerror(os_error.errno)
    return "connection failed"
