"""One bound SMPP 3.4 session to an SMSC (SPEC §11.2; docs/decisions/0001-smpp-library.md).

dlrhub owns the socket: framing, sequence numbers and response correlation, the window of
unacknowledged `submit_sm`, the rate, `enquire_link`, a clean unbind, and — the reason for all
this — a `deliver_sm_resp` sent only after the handler (which commits the report) has returned.
`smpp34` only encodes `submit_sm` and decodes `deliver_sm`. Reconnecting is the caller's: a
session that ended stays ended (`wait_closed`), and a new one is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import smpp34
import structlog

from dlrhub.carriers import smpp_wire as wire
from dlrhub.carriers.smpp_wire import Incoming, SubmitPart, SubmitResult
from dlrhub.domain.errors import DlrhubError
from dlrhub.domain.smpp_binds import SmppBind
from dlrhub.domain.submission import ESME_RMSGQFUL, ESME_ROK, ESME_RTHROTTLED

__all__ = [
    "BindRefused",
    "DeliverHandler",
    "Incoming",
    "SessionClosed",
    "SmppSession",
    "SubmitPart",
    "SubmitResult",
]

log = structlog.get_logger(__name__)

_MAX_HANDLERS = 100  # deliver_sm being handled at once; the read loop waits beyond that
_FIRST_PAUSE_S, _MAX_PAUSE_S = 1.0, 60.0  # after a throttle answer, doubling while they last
_UNBIND_WAIT_S = 2.0
_SLOW_DOWN = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})


DeliverHandler = Callable[[Incoming], Awaitable[None]]


class SessionClosed(DlrhubError):
    """No session: the link is down or closing. Never an SMSC status; try again later."""

    status = 503
    title = "No SMPP session"


class BindRefused(DlrhubError):
    """The SMSC answered `bind_transceiver` with an error status (wrong credentials, …)."""

    status = 502
    title = "SMPP bind refused"

    def __init__(self, detail: str, *, command_status: int) -> None:
        super().__init__(detail)
        self.command_status = command_status


@dataclass(frozen=True)
class _Response:
    command_id: int
    command_status: int
    body: bytes


class SmppSession:
    """Use `open`; every method raises `SessionClosed` once the link is down."""

    def __init__(
        self,
        bind: SmppBind,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_deliver: DeliverHandler,
        enquire_link_s: float,
        response_timeout_s: float,
    ) -> None:
        self._bind = bind
        self._reader = reader
        self._writer = writer
        self._on_deliver = on_deliver
        self._enquire_link_s = enquire_link_s
        self._response_timeout_s = response_timeout_s
        self._sequence = 0
        self._pending: dict[int, asyncio.Future[_Response]] = {}
        self._window = asyncio.Semaphore(bind.window)
        self._outstanding = 0
        self._idle = asyncio.Event()  # no submit_sm awaiting its response
        self._idle.set()
        self._pace = asyncio.Lock()
        self._next_send_at = 0.0
        self._paused_until = 0.0
        self._pause_s = 0.0
        self._handler_slots = asyncio.Semaphore(_MAX_HANDLERS)
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(
        cls,
        bind: SmppBind,
        *,
        on_deliver: DeliverHandler,
        ssl_context: ssl.SSLContext | None = None,
        enquire_link_s: float = 30.0,
        response_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
    ) -> SmppSession:
        """Connect (TLS for `smpps://`) and bind as a transceiver. SessionClosed when the SMSC
        cannot be reached (the TLS handshake included), BindRefused when it refuses the bind."""
        context = (ssl_context or ssl.create_default_context()) if bind.tls else None
        try:
            async with asyncio.timeout(connect_timeout_s):
                reader, writer = await asyncio.open_connection(bind.host, bind.port, ssl=context)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            raise SessionClosed(f"SMPP {bind.name}: cannot connect: {exc!r}") from exc
        session = cls(
            bind,
            reader,
            writer,
            on_deliver=on_deliver,
            enquire_link_s=enquire_link_s,
            response_timeout_s=response_timeout_s,
        )
        session._tasks.append(asyncio.create_task(session._read_loop()))
        try:
            await session._bind_transceiver()
        except BaseException:
            await session._shutdown("bind failed")
            raise
        session._tasks.append(asyncio.create_task(session._keep_alive()))
        log.info("smpp session bound", bind=bind.name)
        return session

    @property
    def outstanding(self) -> int:
        """`submit_sm` sent and not answered yet."""
        return self._outstanding

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def submit(self, part: SubmitPart) -> SubmitResult:
        """Send one `submit_sm` within the window and the rate, and return the SMSC's answer.
        Throttle answers are returned too, and pause this session's next submits."""
        self._check_open()
        async with self._window:
            self._check_open()
            await self._wait_turn()
            sequence = self._next_sequence()
            frame = wire.submit_sm(part, sequence)
            self._outstanding += 1
            self._idle.clear()
            try:
                response = await self._request(sequence, frame, "submit_sm")
            finally:
                self._outstanding -= 1
                if not self._outstanding:
                    self._idle.set()
        self._after_answer(response.command_status)
        message_id = wire.first_c_string(response.body) if response.command_status == 0 else ""
        return SubmitResult(response.command_status, message_id)

    async def close(self, drain_s: float = 3.0) -> None:
        """Stop taking submits, wait up to `drain_s` for outstanding responses (and receipts
        being handled), unbind, and close."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                await self._idle.wait()
                while self._handlers:
                    await asyncio.wait(set(self._handlers))
        if not self._closed.is_set():
            sequence = self._next_sequence()
            with contextlib.suppress(SessionClosed, TimeoutError):
                await self._request(
                    sequence,
                    wire.pdu(wire.UNBIND, sequence),
                    "unbind",
                    wait_s=min(_UNBIND_WAIT_S, self._response_timeout_s),
                )
        await self._shutdown("closed by dlrhub")
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    # -- requests and responses --------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing or self._closed.is_set():
            raise SessionClosed(f"SMPP {self._bind.name}: the session is closed")

    def _next_sequence(self) -> int:
        # 1 to 0x7FFFFFFF, wrapping (SMPP 3.4, 5.1.4).
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    async def _request(
        self, sequence: int, frame: bytes, what: str, *, wait_s: float | None = None
    ) -> _Response:
        """Send a request and await its response. A missing response ends the session: the
        link is presumed dead, and the caller sees SessionClosed."""
        if self._closed.is_set():
            raise SessionClosed(f"SMPP {self._bind.name}: the session is closed")
        future: asyncio.Future[_Response] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        try:
            # The send counts too: a peer that stops reading blocks it as surely as one that
            # stops answering.
            async with asyncio.timeout(wait_s or self._response_timeout_s):
                await self._send(frame)
                return await future
        except TimeoutError:
            reason = f"no {what}_resp within {wait_s or self._response_timeout_s} s"
            await self._shutdown(reason)
            raise SessionClosed(f"SMPP {self._bind.name}: {reason}") from None
        finally:
            self._pending.pop(sequence, None)

    async def _send(self, frame: bytes) -> None:
        if self._closed.is_set() or self._writer.is_closing():
            raise SessionClosed(f"SMPP {self._bind.name}: the session is closed")
        try:
            self._writer.write(frame)
            await self._writer.drain()
        except (OSError, RuntimeError) as exc:
            await self._shutdown(f"write failed: {exc!r}")
            raise SessionClosed(f"SMPP {self._bind.name}: write failed") from exc

    async def _bind_transceiver(self) -> None:
        sequence = self._next_sequence()
        frame = wire.bind_transceiver(
            sequence,
            system_id=self._bind.system_id,
            password=self._bind.password,
            system_type=self._bind.system_type,
        )
        response = await self._request(sequence, frame, "bind_transceiver")
        if response.command_status != ESME_ROK:
            raise BindRefused(
                f"SMPP {self._bind.name}: bind refused with status 0x{response.command_status:02X}",
                command_status=response.command_status,
            )

    # -- window, rate and slowing down ---------------------------------------------------

    async def _wait_turn(self) -> None:
        """Smooth pacing: one submit_sm per 1/rate s, later while a throttle pause lasts.
        Submits queue here in arrival order; the pause may grow while they wait."""
        loop = asyncio.get_running_loop()
        interval = 1.0 / self._bind.rate
        async with self._pace:
            while True:
                now = loop.time()
                due = max(self._next_send_at, self._paused_until)
                if due <= now:
                    break
                await asyncio.sleep(due - now)
                self._check_open()
            self._next_send_at = now + interval

    def _after_answer(self, status: int) -> None:
        if status in _SLOW_DOWN:
            self._pause_s = (
                min(self._pause_s * 2, _MAX_PAUSE_S) if self._pause_s else _FIRST_PAUSE_S
            )
            self._paused_until = asyncio.get_running_loop().time() + self._pause_s
            log.info("smpp throttled", bind=self._bind.name, status=status, pause_s=self._pause_s)
        elif status == ESME_ROK:
            self._pause_s = 0.0

    # -- reading -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reason = "the SMSC closed the connection"
        try:
            while True:
                head = await self._reader.readexactly(4)
                length = int.from_bytes(head, "big")
                if not wire.HEADER_LENGTH <= length <= wire.MAX_PDU_LENGTH:
                    reason = f"a PDU length of {length} bytes"
                    break
                frame = head + await self._reader.readexactly(length - 4)
                if not await self._dispatch(frame):
                    reason = "unbound by the SMSC"
                    break
        except (asyncio.IncompleteReadError, OSError) as exc:
            reason = f"the link ended: {exc!r}"
        await self._shutdown(reason)

    async def _dispatch(self, frame: bytes) -> bool:
        """Act on one PDU; False when the session must end (the SMSC unbound)."""
        header = wire.read_header(frame)
        if header.is_response:
            future = self._pending.get(header.sequence_number)
            if future is not None and not future.done():
                response = _Response(header.command_id, header.command_status, frame[16:])
                future.set_result(response)
            else:
                log.warning("smpp response to nothing", bind=self._bind.name, header=header)
        elif header.command_id == wire.DELIVER_SM:
            await self._start_handler(frame, header)
        elif header.command_id == wire.ENQUIRE_LINK:
            await self._answer(wire.ENQUIRE_LINK_RESP, header.sequence_number)
        elif header.command_id == wire.UNBIND:
            self._closing = True
            await self._answer(wire.UNBIND_RESP, header.sequence_number)
            return False
        else:
            log.warning("smpp unknown command", bind=self._bind.name, header=header)
            await self._answer(
                wire.GENERIC_NACK, header.sequence_number, status=wire.ESME_RINVCMDID
            )
        return True

    async def _answer(
        self, command_id: int, sequence: int, body: bytes = b"", *, status: int = 0
    ) -> None:
        with contextlib.suppress(SessionClosed):
            await self._send(wire.pdu(command_id, sequence, body, status=status))

    async def _start_handler(self, frame: bytes, header: wire.Header) -> None:
        try:
            decoded = smpp34.decode(frame)
        except (smpp34.SmppError, ValueError) as exc:
            decoded = None
            log.warning("smpp deliver_sm unreadable", bind=self._bind.name, error=str(exc))
        if not isinstance(decoded, smpp34.DeliverSm):
            # Answered with an error, not left unanswered: redelivering it would not help.
            await self._answer(
                wire.DELIVER_SM_RESP, header.sequence_number, b"\x00", status=wire.ESME_RSYSERR
            )
            return
        await self._handler_slots.acquire()  # back-pressure: stop reading beyond the limit
        task = asyncio.create_task(self._handle(wire.incoming(decoded), header.sequence_number))
        self._handlers.add(task)
        task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        self._handler_slots.release()

    async def _handle(self, incoming: Incoming, sequence: int) -> None:
        """The handler first, the acknowledgement after: a crash in between makes the SMSC
        redeliver (a duplicate report), never lose it."""
        try:
            await self._on_deliver(incoming)
        except Exception:
            log.exception(
                "smpp deliver_sm handler failed; the SMSC will redeliver",
                bind=self._bind.name,
                receipt=incoming.is_receipt,
            )
            status = wire.ESME_RX_T_APPN
        else:
            status = ESME_ROK
        await self._answer(wire.DELIVER_SM_RESP, sequence, b"\x00", status=status)

    # -- keeping alive and ending ------------------------------------------------------

    async def _keep_alive(self) -> None:
        while not self._closed.is_set():
            await asyncio.sleep(self._enquire_link_s)
            sequence = self._next_sequence()
            try:
                await self._request(sequence, wire.pdu(wire.ENQUIRE_LINK, sequence), "enquire_link")
            except SessionClosed:
                return

    async def _shutdown(self, reason: str) -> None:
        """End the link once: fail every pending request, close the socket, stop the loops
        (never the task calling this)."""
        if self._closed.is_set():
            return
        self._closing = True
        self._closed.set()
        log.info("smpp session closed", bind=self._bind.name, reason=reason)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SessionClosed(f"SMPP {self._bind.name}: {reason}"))
        self._writer.close()
        current = asyncio.current_task()
        others = [task for task in self._tasks if task is not current and not task.done()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        try:
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
        except TimeoutError:  # what is buffered cannot be flushed: drop it
            self._writer.transport.abort()
        except OSError:  # ssl.SSLError included: the link is gone either way
            pass
