"""What the session does with PDUs node-smpp never sends on its own: the SMSC unbinding, a
command it does not know, a length no SMPP peer would write, an unreadable deliver_sm. The
peer here is a few lines of asyncio writing the bytes by hand (struct, not dlrhub's encoders)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from dlrhub.carriers.smpp_session import Incoming, SmppSession
from dlrhub.domain.smpp_binds import SmppBind
from tests.support.waiting import wait_until

Pdu = tuple[int, int, int, bytes]  # command_id, command_status, sequence_number, body
Script = Callable[["Peer"], Awaitable[None]]


@dataclass
class Peer:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: list[Pdu] = field(default_factory=list)

    async def read(self) -> Pdu:
        head = await self.reader.readexactly(16)
        length, command_id, status, sequence = struct.unpack(">IIII", head)
        body = await self.reader.readexactly(length - 16)
        self.received.append((command_id, status, sequence, body))
        return command_id, status, sequence, body

    async def write(self, command_id: int, sequence: int, body: bytes = b"") -> None:
        self.writer.write(struct.pack(">IIII", 16 + len(body), command_id, 0, sequence) + body)
        await self.writer.drain()


@asynccontextmanager
async def raw_smsc(script: Script) -> AsyncIterator[tuple[SmppBind, list[Peer]]]:
    """A peer that accepts any bind, then runs `script`."""
    peers: list[Peer] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        peers.append(peer)
        command_id, _, sequence, _ = await peer.read()
        assert command_id == 0x09
        await peer.write(0x80000009, sequence, b"raw\x00")
        try:
            await script(peer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bind = SmppBind(host="127.0.0.1", port=port, system_id="raw", password="pw", tls=False)
    try:
        yield bind, peers
    finally:
        server.close()
        await server.wait_closed()


async def answer_unbind(peer: Peer) -> None:
    """Read until the session's unbind, and answer it (close() then need not wait)."""
    while True:
        command_id, _, sequence, _ = await peer.read()
        if command_id == 0x06:
            await peer.write(0x80000006, sequence)
            return


async def ignore(incoming: Incoming) -> None:
    return None


async def received(peers: list[Peer], count: int) -> None:
    """Until the first peer has read `count` PDUs (the bind included)."""
    await wait_until(
        lambda: bool(peers) and len(peers[0].received) >= count,
        timeout=3,
        interval=0.01,
        what=f"{count} PDUs read by the peer",
    )


async def test_the_smscs_unbind_is_answered_and_ends_the_session() -> None:
    async def unbind(peer: Peer) -> None:
        await peer.write(0x00000006, 77)
        await peer.read()

    async with raw_smsc(unbind) as (bind, peers):
        session = await SmppSession.open(bind, on_deliver=ignore)
        async with asyncio.timeout(3):
            await session.wait_closed()
            await received(peers, 2)
    assert peers[0].received[1][:3] == (0x80000006, 0, 77)


async def test_an_unknown_command_gets_a_generic_nack() -> None:
    async def unknown(peer: Peer) -> None:
        await peer.write(0x00000103, 5, b"\x00")  # data_sm: not something dlrhub takes
        await peer.read()
        await answer_unbind(peer)

    async with raw_smsc(unknown) as (bind, peers):
        session = await SmppSession.open(bind, on_deliver=ignore)
        try:
            await received(peers, 2)
            assert not session.closed
        finally:
            await session.close(drain_s=0.1)
    assert peers[0].received[1][:3] == (0x80000000, 0x03, 5)


async def test_an_absurd_length_ends_the_session() -> None:
    async def huge(peer: Peer) -> None:
        peer.writer.write(struct.pack(">I", 0x7FFFFFFF))
        await peer.writer.drain()
        await answer_unbind(peer)

    async with raw_smsc(huge) as (bind, _):
        session = await SmppSession.open(bind, on_deliver=ignore)
        async with asyncio.timeout(3):
            await session.wait_closed()


async def test_an_unreadable_deliver_sm_is_answered_with_an_error_not_handled() -> None:
    handled: list[Incoming] = []

    async def keep(incoming: Incoming) -> None:
        handled.append(incoming)

    async def garbage(peer: Peer) -> None:
        await peer.write(0x00000005, 9, b"\xff\xff\xff")  # C-strings without their NUL
        await peer.read()
        await answer_unbind(peer)

    async with raw_smsc(garbage) as (bind, peers):
        session = await SmppSession.open(bind, on_deliver=keep)
        try:
            await received(peers, 2)
        finally:
            await session.close(drain_s=0.1)
    command_id, status, sequence, _ = peers[0].received[1]
    assert (command_id, sequence) == (0x80000005, 9)
    assert status != 0
    assert handled == []


async def test_sequence_numbers_start_at_one_and_grow() -> None:
    async def answer_links(peer: Peer) -> None:
        while True:
            command_id, _, sequence, _ = await peer.read()
            if command_id == 0x15:
                await peer.write(0x80000015, sequence)
            elif command_id == 0x06:
                await peer.write(0x80000006, sequence)

    async with raw_smsc(answer_links) as (bind, peers):
        session = await SmppSession.open(bind, on_deliver=ignore, enquire_link_s=0.05)
        try:
            await received(peers, 4)
        finally:
            await session.close(drain_s=0.1)
    assert [pdu[2] for pdu in peers[0].received[:4]] == [1, 2, 3, 4]


async def test_an_unanswered_enquire_link_ends_the_session() -> None:
    async def silent(peer: Peer) -> None:
        while True:
            await peer.read()

    async with raw_smsc(silent) as (bind, peers):
        session = await SmppSession.open(
            bind, on_deliver=ignore, enquire_link_s=0.1, response_timeout_s=0.3
        )
        async with asyncio.timeout(3):
            await session.wait_closed()
    assert peers[0].received[1][0] == 0x15
