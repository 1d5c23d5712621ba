"""A real HTTP(S) webhook receiver running on its own asyncio loop in a background thread.

Usable from sync and async tests alike::

    with Receiver(tls=test_tls.server_ssl_context()) as receiver:
        receiver.respond_with(Reply(500), Reply(200))
        ...  # make the application deliver to receiver.url
        first, second = receiver.wait_for(2)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
import weakref
from types import TracebackType
from typing import Any

from aiohttp import web

from .request_log import Predicate, ReceivedRequest, Reply, RequestLog
from .tls import TestTLS

__all__ = ["Predicate", "ReceivedRequest", "Receiver", "Reply"]

_STOP_TIMEOUT_S = 10.0
_BODYLESS_STATUSES = frozenset({204, 304})


def _peer_port(request: web.Request) -> int | None:
    transport = request.transport
    if transport is None:
        return None
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2 and isinstance(peer[1], int):
        return peer[1]
    return None


class _TrackingLoop(asyncio.SelectorEventLoop):
    """Selector loop that remembers (weakly) every connection transport it creates.

    On shutdown, TLS connections may still be waiting for the peer's close_notify; asyncio would
    then close the loop with their sockets open (ResourceWarning). We abort them instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.socket_transports: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()

    def _make_socket_transport(self, *args: Any, **kwargs: Any) -> Any:
        transport = super()._make_socket_transport(*args, **kwargs)  # type: ignore[misc]
        self.socket_transports.add(transport)
        return transport

    def _make_ssl_transport(self, *args: Any, **kwargs: Any) -> Any:
        # Returns the TLS-level transport; aborting it aborts the underlying socket transport.
        transport = super()._make_ssl_transport(*args, **kwargs)  # type: ignore[misc]
        self.socket_transports.add(transport)
        return transport


class Receiver(RequestLog):
    """An HTTPS (or, with ``tls=None``, plain HTTP) server on 127.0.0.1 that records requests.

    Accepts any method on any path; what it records and answers is its :class:`RequestLog`.
    """

    def __init__(
        self,
        tls: ssl.SSLContext | TestTLS | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        default_reply: Reply | None = None,
        client_max_size: int = 64 * 1024 * 1024,
    ) -> None:
        super().__init__(default_reply)
        self._ssl: ssl.SSLContext | None = (
            tls.server_ssl_context() if isinstance(tls, TestTLS) else tls
        )
        self._host = host
        self._requested_port = port
        self._client_max_size = client_max_size
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> Receiver:
        """Start serving; return once the socket is listening."""
        if self._thread is not None:
            raise RuntimeError("Receiver already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._thread_main, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("webhook receiver did not start in time")
        if self._startup_error is not None:
            error = self._startup_error
            self._thread.join(timeout)
            self._thread = None
            raise RuntimeError("webhook receiver failed to start") from error
        return self

    def stop(self) -> None:
        """Stop serving: cancel in-flight handlers, close connections and the loop, join."""
        thread = self._thread
        if thread is None:
            return
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():
            raise RuntimeError("webhook receiver thread did not stop")
        self._thread = None
        self._port = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Receiver:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("Receiver is not running")
        return self._port

    @property
    def scheme(self) -> str:
        return "http" if self._ssl is None else "https"

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``https://127.0.0.1:54321``."""
        return f"{self.scheme}://{self._host}:{self.port}"

    def url_for(self, path: str = "/") -> str:
        """``url`` joined with ``path`` (a leading slash is added if missing)."""
        return self.url + (path if path.startswith("/") else "/" + path)

    # ------------------------------------------------------------------ server side

    def _thread_main(self) -> None:
        try:
            with asyncio.Runner(loop_factory=_TrackingLoop) as runner:
                runner.run(self._serve())
        except BaseException as exc:  # reported to start() if startup had not finished
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                raise

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        app = web.Application(client_max_size=self._client_max_size)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self._host, self._requested_port))
                site = web.SockSite(runner, sock, ssl_context=self._ssl, backlog=1024)
                await site.start()
            except BaseException:
                sock.close()
                raise
            self._port = sock.getsockname()[1]
            self._ready.set()
            await self._stop_event.wait()
            for task in list(self._in_flight):
                task.cancel()
            if self._in_flight:
                await asyncio.wait(list(self._in_flight), timeout=2.0)
        finally:
            try:
                await runner.cleanup()
            finally:
                await self._abort_connections()
                self._loop = None
            self._stop_event = None

    @staticmethod
    async def _abort_connections() -> None:
        loop = asyncio.get_running_loop()
        if not isinstance(loop, _TrackingLoop):
            return
        for transport in list(loop.socket_transports):
            transport.abort()
        # connection_lost callbacks (which close the sockets) run on the next iterations
        for _ in range(3):
            await asyncio.sleep(0)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            received_at = time.monotonic()
            body = await request.read()
            headers: dict[str, str] = {}
            for name, value in request.headers.items():
                headers[name.lower()] = value
            record = ReceivedRequest(
                method=request.method,
                path=request.path,
                query_string=request.query_string,
                headers=headers,
                body=body,
                received_at=received_at,
                remote_port=_peer_port(request),
            )
            reply = self._record(record)
            if reply.delay_s > 0:
                await asyncio.sleep(reply.delay_s)
            body_out = b"" if reply.status in _BODYLESS_STATUSES else reply.body
            return web.Response(status=reply.status, body=body_out, headers=reply.headers)
        finally:
            if task is not None:
                self._in_flight.discard(task)
