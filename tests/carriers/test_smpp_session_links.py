"""The SMPP session's link: the SMSC dying, a response that never comes, a clean close with a
submit outstanding, and TLS (node-smpp test SMSC, tests/smsc/server.js)."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme

from dlrhub.carriers.smpp_session import Incoming, SessionClosed, SmppSession, SubmitPart
from tests.support.smsc import StartSmsc, TestSmsc
from tests.support.tls import TestTLS


def hello(destination: str = "447700900100") -> SubmitPart:
    return SubmitPart("447700900999", 1, 1, destination, 1, 1, 0, 0, b"hello")


async def ignore(incoming: Incoming) -> None:
    return None


async def test_a_killed_smsc_ends_the_session(smsc: TestSmsc) -> None:
    session = await SmppSession.open(smsc.bind(), on_deliver=ignore)
    smsc.kill()
    async with asyncio.timeout(5):
        await session.wait_closed()
    assert session.closed
    with pytest.raises(SessionClosed):
        await session.submit(hello())
    await session.close()  # harmless once closed


async def test_a_dropped_link_fails_the_submits_in_flight(start_smsc: StartSmsc) -> None:
    smsc = start_smsc(RESP_DELAY_MS=1000)
    session = await SmppSession.open(smsc.bind(), on_deliver=ignore)
    waiting = asyncio.create_task(session.submit(hello()))
    await smsc.wait_for(lambda e: e["event"] == "submit")
    smsc.send({"cmd": "drop"})
    with pytest.raises(SessionClosed):
        async with asyncio.timeout(3):
            await waiting
    assert session.closed
    # A new session binds to the same SMSC, restarted on the same port.
    smsc.restart()
    again = await SmppSession.open(smsc.bind(), on_deliver=ignore)
    try:
        assert (await again.submit(hello())).command_status == 0
    finally:
        await again.close()


async def test_a_response_timeout_closes_the_session(start_smsc: StartSmsc) -> None:
    smsc = start_smsc(RESP_DELAY_MS=3000)
    session = await SmppSession.open(smsc.bind(), on_deliver=ignore, response_timeout_s=0.5)
    with pytest.raises(SessionClosed):
        async with asyncio.timeout(3):
            await session.submit(hello())
    assert session.closed
    await smsc.wait_for(lambda e: e["event"] == "close")


async def test_close_waits_for_the_outstanding_submit_then_unbinds(
    start_smsc: StartSmsc,
) -> None:
    smsc = start_smsc(RESP_DELAY_MS=500)
    session = await SmppSession.open(smsc.bind(), on_deliver=ignore)
    waiting = asyncio.create_task(session.submit(hello()))
    await smsc.wait_for(lambda e: e["event"] == "submit")
    assert session.outstanding == 1
    await session.close(drain_s=3)
    assert (await waiting).command_status == 0
    assert session.closed
    await smsc.wait_for(lambda e: e["event"] == "unbind")  # its line may still be on its way
    kinds = [e["event"] for e in smsc.events() if e["event"] in ("submit_sm_resp", "unbind")]
    assert kinds == ["submit_sm_resp", "unbind"]
    assert smsc.events("unbind")[0]["outstanding"] == 0
    with pytest.raises(SessionClosed):
        await session.submit(hello())


async def test_close_takes_no_new_submit(smsc: TestSmsc) -> None:
    session = await SmppSession.open(smsc.bind(), on_deliver=ignore)
    closing = asyncio.create_task(session.close())
    await asyncio.sleep(0)
    with pytest.raises(SessionClosed):
        await session.submit(hello())
    await closing
    assert smsc.events("submit") == []


async def test_binds_over_tls_with_a_trusted_ca(tls_smsc: TestSmsc, smsc_tls: TestTLS) -> None:
    bind = tls_smsc.bind()
    assert bind.tls
    session = await SmppSession.open(
        bind, on_deliver=ignore, ssl_context=smsc_tls.client_ssl_context()
    )
    try:
        assert (await session.submit(hello())).command_status == 0
    finally:
        await session.close()
    assert (await tls_smsc.wait_for(lambda e: e["event"] == "bind"))["ok"] is True


async def test_an_untrusted_certificate_refuses_the_session(tls_smsc: TestSmsc) -> None:
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)
    with pytest.raises(SessionClosed) as refused:
        await SmppSession.open(tls_smsc.bind(), on_deliver=ignore, ssl_context=stranger)
    assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
    assert tls_smsc.events("bind") == []


async def test_tls_uses_the_default_context_without_one(
    tls_smsc: TestSmsc, smsc_tls: TestTLS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(smsc_tls.ca_pem_path))
    session = await SmppSession.open(tls_smsc.bind(), on_deliver=ignore)
    await session.close()
    assert (await tls_smsc.wait_for(lambda e: e["event"] == "bind"))["ok"] is True
