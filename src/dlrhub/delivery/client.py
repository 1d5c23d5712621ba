"""The one HTTP client that talks to customers' endpoints: aiohttp, one session per process."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.outgoing import OutgoingRequest
from dlrhub.domain.urlpolicy import UrlPolicy, check_callback_url, is_forbidden_address


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


class PolicyResolver(AbstractResolver):
    """Refuses host names that resolve to private addresses, checked at connect time so a
    DNS answer that changes after registration cannot reach the internal network."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        allowed = [r for r in results if not is_forbidden_address(r["host"])]
        if not allowed:
            raise OSError(f"{host} resolves only to private, loopback or link-local addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


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
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            ssl=self._ssl,
            resolver=PolicyResolver(self._policy.allow_private),
            keepalive_timeout=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: OutgoingRequest, *, keep_body: int = 1024) -> AttemptResult:
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
                _target(request.url),
                headers=request.headers,
                data=request.body if request.method != "GET" else None,
                allow_redirects=False,
            ) as response:
                body = await _read_prefix(response, keep_body)
                return done(response.status, dict(response.headers), body, None)
        except TimeoutError:
            return done(None, {}, b"", f"timed out after {self._timeout_s:g} s")
        except aiohttp.ClientConnectorCertificateError as exc:
            return done(None, {}, b"", f"TLS certificate not trusted: {exc.certificate_error}")
        except aiohttp.ClientSSLError as exc:
            return done(None, {}, b"", f"TLS error: {exc}")
        except aiohttp.ClientConnectorError as exc:
            return done(None, {}, b"", f"could not connect: {_reason(exc)}")
        except (aiohttp.ClientError, OSError) as exc:
            return done(None, {}, b"", f"request failed: {exc.__class__.__name__}: {exc}")


def _target(url: str) -> str | yarl.URL:
    """Send an ASCII URL exactly as built: re-quoting could change a query string that was
    signed (SPEC §8, GET). Anything else is left to aiohttp to encode."""
    return yarl.URL(url, encoded=True) if url.isascii() else url


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


def _reason(exc: aiohttp.ClientConnectorError) -> str:
    os_error: Any = exc.os_error
    return str(getattr(os_error, "strerror", None) or os_error or exc)
