"""Matching SMPP receipts to submitted messages (SPEC §11.2, issue 11): every way an SMSC
writes a receipt's id leads to the key its `submit_sm_resp` id was stored under."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.smpp_receipts import (
    Receipt,
    ReceiptIds,
    read_receipt,
    receipt_id_keys,
    state_of_parts,
    state_of_tlv,
    stored_id_key,
)
from dlrhub.domain.status import MessageStatus


@pytest.mark.parametrize(
    ("response_id", "key"),
    [
        ("1A2B", "1a2b"),
        ("00001a2b", "1a2b"),  # zero-padded
        (" 6699 ", "6699"),
        ("0", "0"),
        ("0000", "0"),
        ("msg-7f.3", "msg-7f.3"),  # not a number: kept as written, lower-cased
        ("", ""),
    ],
)
def test_stored_keys(response_id: str, key: str) -> None:
    assert stored_id_key(response_id) == key


@pytest.mark.parametrize(
    ("response_id", "text_id", "mode"),
    [
        ("1A2B", "1a2b", ReceiptIds.HEX),  # the same string, another case
        ("1A2B", "6699", ReceiptIds.DEC),  # hex response, decimal text
        ("6699", "1A2B", ReceiptIds.HEX),  # decimal response, hex text
        ("1A2B", "0000006699", ReceiptIds.DEC),  # padded decimal text
        ("0001A2B", "6699", ReceiptIds.AUTO),
        ("6699", "1a2b", ReceiptIds.AUTO),
        ("6699", "6699", ReceiptIds.AUTO),
        ("6699", "6699", ReceiptIds.DEC),
        ("abc-1", "ABC-1", ReceiptIds.AUTO),  # not a number either way
    ],
)
def test_a_text_id_finds_its_response_id(response_id: str, text_id: str, mode: ReceiptIds) -> None:
    assert stored_id_key(response_id) in receipt_id_keys(text_id, in_text=True, mode=mode)


@pytest.mark.parametrize(
    ("response_id", "text_id", "mode"),
    [
        ("1A2B", "6699", ReceiptIds.HEX),  # read as hex, 6699 is not 0x1A2B
        ("6699", "1A2B", ReceiptIds.DEC),  # not decimal at all
    ],
)
def test_the_wrong_mode_finds_nothing(response_id: str, text_id: str, mode: ReceiptIds) -> None:
    assert stored_id_key(response_id) not in receipt_id_keys(text_id, in_text=True, mode=mode)


def test_a_tlv_id_is_the_response_id_itself() -> None:
    # The TLV carries the submit_sm_resp id: it is never re-read in another base.
    assert receipt_id_keys("6699", in_text=False, mode=ReceiptIds.AUTO) == ("6699",)
    assert receipt_id_keys("0001A2B", in_text=False, mode=ReceiptIds.DEC) == ("1a2b",)


def test_the_id_as_written_comes_first() -> None:
    assert receipt_id_keys("6699", in_text=True, mode=ReceiptIds.AUTO)[0] == "6699"


@given(st.integers(min_value=0, max_value=2**64))
def test_any_number_round_trips_between_hex_and_decimal(value: int) -> None:
    hex_response, dec_response = format(value, "X"), str(value)
    assert stored_id_key(hex_response) in receipt_id_keys(
        dec_response, in_text=True, mode=ReceiptIds.DEC
    )
    assert stored_id_key(dec_response) in receipt_id_keys(
        hex_response, in_text=True, mode=ReceiptIds.HEX
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, (True, None)),  # ENROUTE
        (2, (True, MessageStatus.DELIVERED)),
        (3, (True, MessageStatus.EXPIRED)),
        (4, (True, MessageStatus.ERROR)),  # DELETED
        (5, (True, MessageStatus.ERROR)),  # UNDELIVERABLE
        (6, (True, None)),  # ACCEPTED
        (7, (True, MessageStatus.ERROR)),  # UNKNOWN
        (8, (True, MessageStatus.ERROR)),  # REJECTED
        (0, (False, None)),
        (9, (False, None)),
        (255, (False, None)),
    ],
)
def test_message_state_tlv(value: int, expected: tuple[bool, MessageStatus | None]) -> None:
    assert state_of_tlv(value) == expected


RECEIPT = (
    "id:{id} sub:001 dlvrd:001 submit date:2611290801 done date:2611290802 stat:{stat} err:{err}"
)


@pytest.mark.parametrize(
    ("text", "tlv_id", "state", "expected"),
    [
        # The TLVs first.
        (
            RECEIPT.format(id="6699", stat="UNDELIV", err="000"),
            "1A2B",
            2,
            Receipt("1A2B", False, True, MessageStatus.DELIVERED, None),
        ),
        # The text when there is no TLV.
        (
            RECEIPT.format(id="6699", stat="DELIVRD", err="000"),
            None,
            None,
            Receipt("6699", True, True, MessageStatus.DELIVERED, None),
        ),
        (
            RECEIPT.format(id="6699", stat="UNDELIV", err="021"),
            None,
            None,
            Receipt("6699", True, True, MessageStatus.ERROR, "carrier: UNDELIV (err 021)"),
        ),
        (
            RECEIPT.format(id="6699", stat="UNDELIV", err="X"),
            None,
            None,
            Receipt("6699", True, True, MessageStatus.ERROR, "carrier: UNDELIV (err X)"),
        ),
        (
            RECEIPT.format(id="6699", stat="EXPIRED", err="000"),
            None,
            None,
            Receipt("6699", True, True, MessageStatus.EXPIRED, "carrier: EXPIRED"),
        ),
        (
            RECEIPT.format(id="6699", stat="ENROUTE", err="000"),
            None,
            None,
            Receipt("6699", True, True, None, None),
        ),
        # A TLV state without a text stat still names the failure.
        (
            "",
            "abc",
            5,
            Receipt("abc", False, True, MessageStatus.ERROR, "carrier: message_state 5"),
        ),
        # Not understood: acknowledged and counted, never an exception.
        (
            RECEIPT.format(id="6699", stat="WEIRD", err="0A1"),
            None,
            None,
            Receipt("6699", True, False, None, None),
        ),
        ("id:42 stat:", None, 99, Receipt("42", True, False, None, None)),
        # Names no submission at all.
        ("stat:DELIVRD", None, None, None),
        ("", None, 2, None),
        ("", "  ", 2, None),
    ],
)
def test_read_receipt(
    text: str, tlv_id: str | None, state: int | None, expected: Receipt | None
) -> None:
    assert read_receipt(text, receipted_message_id=tlv_id, message_state=state) == expected


@given(
    st.text(max_size=300),
    st.one_of(st.none(), st.text(max_size=70)),
    st.one_of(st.none(), st.integers(0, 255)),
)
def test_read_receipt_never_raises(text: str, tlv_id: str | None, state: int | None) -> None:
    receipt = read_receipt(text, receipted_message_id=tlv_id, message_state=state)
    assert receipt is None or receipt.carrier_id


D, E, X = MessageStatus.DELIVERED, MessageStatus.ERROR, MessageStatus.EXPIRED


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([D, D, D], D),
        ([D, None, D], None),  # a part still out
        ([None, None], None),
        ([D, E, None], E),  # a failed part fails the message at once
        ([X, D, D], X),
        ([D], D),
        ([], None),
    ],
)
def test_state_of_parts(parts: list[MessageStatus | None], expected: MessageStatus | None) -> None:
    assert state_of_parts(parts) == expected
