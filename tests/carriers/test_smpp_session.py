"""The SMPP session against an independent SMSC (node-smpp, tests/smsc/server.js): bind,
submit in GSM, UCS-2 and parts, window, rate, slowing down, enquire_link, and receipts
acknowledged only after their handler."""

from __future__ import annotations

import asyncio
import time

import pytest

from dlrhub.carriers.smpp_session import (
    BindRefused,
    Incoming,
    SmppSession,
    SubmitPart,
)
from dlrhub.domain.gsm import encode
from dlrhub.domain.smpp_binds import SmppBind
from tests.support.smsc import StartSmsc, TestSmsc

SOURCE = "447700900999"
UCS2_MO = {"text": "Grüße ☃", "data_coding": 8}


def parts(text: str, destination: str, *, reference: int = 7) -> list[SubmitPart]:
    encoded = encode(text, reference)
    udhi = 0x40 if len(encoded.parts) > 1 else 0
    return [
        SubmitPart(SOURCE, 1, 1, destination, 1, 1, udhi, encoded.data_coding, body)
        for body in encoded.parts
    ]


def one(destination: str, text: str = "hello") -> SubmitPart:
    return parts(text, destination)[0]


async def ignore(incoming: Incoming) -> None:
    return None


async def open_session(bind: SmppBind, **options: object) -> SmppSession:
    return await SmppSession.open(bind, on_deliver=ignore, **options)  # type: ignore[arg-type]


async def test_binds_as_a_transceiver_of_smpp_3_4(smsc: TestSmsc) -> None:
    session = await open_session(smsc.bind())
    try:
        event = await smsc.wait_for(lambda e: e["event"] == "bind")
        assert event["ok"] is True
        assert event["system_id"] == "dlrhub"
        assert event["command"] == "bind_transceiver"
        assert event["interface_version"] == 0x34
        assert not session.closed
    finally:
        await session.close()
    assert session.closed
    await smsc.wait_for(lambda e: e["event"] == "unbind")


async def test_a_wrong_password_is_a_refused_bind(smsc: TestSmsc) -> None:
    with pytest.raises(BindRefused) as refused:
        await open_session(smsc.bind(password="wrong"))
    assert refused.value.command_status == 0x0D
    assert (await smsc.wait_for(lambda e: e["event"] == "bind"))["ok"] is False


async def test_a_gsm_message_reaches_the_smsc_as_written(smsc: TestSmsc) -> None:
    text = "Hello {world} [€5] ~Ça|ü"
    session = await open_session(smsc.bind())
    try:
        result = await session.submit(one("447700900100", text))
    finally:
        await session.close()
    event = await smsc.wait_for(lambda e: e["event"] == "submit")
    assert result.command_status == 0
    assert result.message_id == event["message_id"] != ""
    assert event["text"] == text
    assert event["short_message"] == encode(text, 0).parts[0].hex()
    assert (event["data_coding"], event["esm_class"], event["udh"]) == (0, 0, None)
    assert event["registered_delivery"] == 1
    assert (event["source"], event["source_ton"], event["source_npi"]) == (SOURCE, 1, 1)
    assert (event["destination"], event["dest_ton"], event["dest_npi"]) == ("447700900100", 1, 1)


async def test_a_ucs2_message_reaches_the_smsc_as_written(smsc: TestSmsc) -> None:
    text = "Привет, 世界 👋"
    session = await open_session(smsc.bind())
    try:
        result = await session.submit(one("447700900100", text))
    finally:
        await session.close()
    event = await smsc.wait_for(lambda e: e["event"] == "submit")
    assert result.command_status == 0
    assert (event["text"], event["data_coding"], event["esm_class"]) == (text, 8, 0)


async def test_a_long_message_goes_as_three_parts_with_their_headers(smsc: TestSmsc) -> None:
    text = "".join(f"{n:04d} words, " for n in range(30))  # 360 GSM characters: 3 parts
    session = await open_session(smsc.bind())
    try:
        results = [await session.submit(p) for p in parts(text, "447700900100", reference=0xA7)]
    finally:
        await session.close()
    events = await smsc.wait_events("submit", 3)
    assert [r.command_status for r in results] == [0, 0, 0]
    assert len({r.message_id for r in results}) == 3
    assert [e["udh"] for e in events] == [f"050003a703{n:02x}" for n in (1, 2, 3)]
    assert {(e["esm_class"], e["data_coding"]) for e in events} == {(0x40, 0)}
    assert "".join(e["text"] for e in events) == text


async def test_never_more_submits_unanswered_than_the_window(start_smsc: StartSmsc) -> None:
    smsc = start_smsc(RESP_DELAY_MS=300)
    session = await open_session(smsc.bind(window=3, rate=1000))
    try:
        results = await asyncio.gather(*(session.submit(one("447700900100")) for _ in range(9)))
    finally:
        await session.close()
    assert [r.command_status for r in results] == [0] * 9
    assert max(e["in_flight"] for e in await smsc.wait_events("submit", 9)) == 3


async def test_submits_are_paced_at_the_rate(start_smsc: StartSmsc) -> None:
    smsc = start_smsc()
    session = await open_session(smsc.bind(window=10, rate=20))
    try:
        started = time.monotonic()
        await asyncio.gather(*(session.submit(one("447700900100")) for _ in range(40)))
        elapsed = time.monotonic() - started
    finally:
        await session.close()
    at = [e["at_ms"] for e in await smsc.wait_events("submit", 40)]
    assert elapsed >= 1.85
    assert at[-1] - at[0] >= 1850
    # Smooth, not in bursts: any ten of them span 450 ms at this rate (300 leaves slack).
    assert min(b - a for a, b in zip(at, at[9:], strict=False)) >= 300


async def test_a_throttle_answer_is_returned_and_slows_the_next_submit(smsc: TestSmsc) -> None:
    session = await open_session(smsc.bind(rate=1000))
    try:
        throttled = await session.submit(one("447700900102"))
        accepted = await session.submit(one("447700900100"))
    finally:
        await session.close()
    assert (throttled.command_status, throttled.message_id) == (0x58, "")
    assert accepted.command_status == 0
    first, second = await smsc.wait_events("submit", 2)
    assert second["at_ms"] - first["at_ms"] >= 900


async def test_a_refused_destination_is_returned_as_its_status(smsc: TestSmsc) -> None:
    session = await open_session(smsc.bind())
    try:
        refused = await session.submit(one("447700900101"))
        after = time.monotonic()
        await session.submit(one("447700900100"))
        assert time.monotonic() - after < 0.5  # a refusal is not a reason to slow down
    finally:
        await session.close()
    assert (refused.command_status, refused.message_id) == (0x0B, "")


async def test_enquire_link_both_ways(smsc: TestSmsc) -> None:
    session = await open_session(smsc.bind(), enquire_link_s=0.3)
    try:
        await smsc.wait_for(lambda e: e["event"] == "enquire_link", skip=2, timeout=3)
        smsc.send({"cmd": "enquire_link"})
        await smsc.wait_for(lambda e: e["event"] == "enquire_link_resp")
        assert not session.closed
    finally:
        await session.close()


async def test_a_receipt_is_acknowledged_only_after_its_handler(smsc: TestSmsc) -> None:
    received: list[Incoming] = []

    async def slow(incoming: Incoming) -> None:
        await asyncio.sleep(0.5)
        received.append(incoming)

    session = await SmppSession.open(smsc.bind(), on_deliver=slow)
    try:
        result = await session.submit(one("447700900100", "receipt please"))
        resp = await smsc.wait_for(lambda e: e["event"] == "deliver_sm_resp", timeout=5)
    finally:
        await session.close()
    assert (resp["status"], resp["id"]) == (0, result.message_id)
    assert resp["after_ms"] >= 500
    [receipt] = received
    assert receipt.is_receipt
    assert (receipt.receipted_message_id, receipt.message_state) == (result.message_id, 2)
    assert receipt.short_message.startswith(f"id:{result.message_id} sub:001".encode())
    assert (receipt.source_addr, receipt.destination_addr) == ("447700900100", SOURCE)


async def test_a_failing_handler_gets_the_receipt_again_at_the_next_bind(smsc: TestSmsc) -> None:
    async def failing(incoming: Incoming) -> None:
        raise RuntimeError("the database is down")

    received: list[Incoming] = []

    async def working(incoming: Incoming) -> None:
        received.append(incoming)

    session = await SmppSession.open(smsc.bind(), on_deliver=failing)
    try:
        result = await session.submit(one("447700900103"))
        nak = await smsc.wait_for(lambda e: e["event"] == "deliver_sm_resp", timeout=5)
    finally:
        await session.close()
    assert nak["status"] == 0x64
    session = await SmppSession.open(smsc.bind(), on_deliver=working)
    try:
        ack = await smsc.wait_for(lambda e: e["event"] == "deliver_sm_resp", skip=1, timeout=5)
    finally:
        await session.close()
    assert (ack["id"], ack["status"]) == (result.message_id, 0)
    [receipt] = received
    assert (receipt.receipted_message_id, receipt.message_state) == (result.message_id, 5)


async def test_a_mobile_originated_message_is_decoded(smsc: TestSmsc) -> None:
    received: list[Incoming] = []

    async def keep(incoming: Incoming) -> None:
        received.append(incoming)

    session = await SmppSession.open(smsc.bind(), on_deliver=keep)
    try:
        smsc.send({"cmd": "mo", "from": "447700900123", "to": "447700900999", **UCS2_MO})
        smsc.send({"cmd": "mo", "from": "447700900124", "to": "447700900998", "text": "a{€}"})
        await smsc.wait_for(lambda e: e["event"] == "deliver_sm_resp", skip=1)
    finally:
        await session.close()
    by_source = {m.source_addr: m for m in received}
    ucs2, gsm = by_source["447700900123"], by_source["447700900124"]
    assert not ucs2.is_receipt
    assert (ucs2.destination_addr, ucs2.data_coding) == ("447700900999", 8)
    assert ucs2.short_message == "Grüße ☃".encode("utf-16-be")
    assert (gsm.destination_addr, gsm.data_coding) == ("447700900998", 0)
    assert gsm.short_message == encode("a{€}", 0).parts[0]
    assert (ucs2.receipted_message_id, ucs2.message_state) == (None, None)


async def test_handlers_run_side_by_side(smsc: TestSmsc) -> None:
    async def slow(incoming: Incoming) -> None:
        await asyncio.sleep(0.6)

    session = await SmppSession.open(smsc.bind(), on_deliver=slow)
    try:
        for n in range(3):
            smsc.send({"cmd": "mo", "from": f"44770090012{n}", "to": SOURCE, "text": "hi"})
        await smsc.wait_for(lambda e: e["event"] == "deliver_sm_resp", skip=2)
    finally:
        await session.close()
    answers = smsc.events("deliver_sm_resp")
    assert [a["status"] for a in answers] == [0, 0, 0]
    # One after the other, the last would be answered 1.8 s after it was sent.
    assert max(a["after_ms"] for a in answers) < 1200


@pytest.mark.parametrize(
    ("ids", "receipts", "tlv"),
    [("hex", "tlv", True), ("hex", "text-dec", False), ("dec", "text-hex", False)],
)
async def test_the_smscs_id_forms(
    start_smsc: StartSmsc, ids: str, receipts: str, tlv: bool
) -> None:
    """The test SMSC writes ids as told (the connector's receipt matching relies on it)."""
    smsc = start_smsc(IDS=ids, RECEIPTS=receipts)
    received: list[Incoming] = []

    async def keep(incoming: Incoming) -> None:
        received.append(incoming)

    session = await SmppSession.open(smsc.bind(), on_deliver=keep)
    try:
        result = await session.submit(one("447700900104"))
        await smsc.wait_for(lambda e: e["event"] == "deliver_sm_resp")
    finally:
        await session.close()
    number = int(result.message_id, 16 if ids == "hex" else 10)
    written = {"tlv": result.message_id, "text-dec": str(number), "text-hex": f"{number:x}"}
    [receipt] = received
    assert receipt.short_message.startswith(f"id:{written[receipts]} ".encode())
    assert b" stat:EXPIRED err:" in receipt.short_message
    expected = (result.message_id, 3) if tlv else (None, None)
    assert (receipt.receipted_message_id, receipt.message_state) == expected
