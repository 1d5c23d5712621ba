"""Matching SMPP receipts to submitted messages (SPEC §11.2, issue 11): every way an SMSC
writes a receipt's id leads to the key its `submit_sm_resp` id was stored under."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.smpp_receipts import (
    ReceiptIds,
    receipt_id_keys,
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
