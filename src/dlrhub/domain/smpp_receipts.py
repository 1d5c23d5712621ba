"""Matching SMPP delivery receipts to what was submitted (SPEC §11.2; issue 11).

A receipt names its message by the id the SMSC gave in `submit_sm_resp`: in the
`receipted_message_id` TLV in that same form, or in the receipt text's `id:`, where SMSCs
differ: some write the same string, some its decimal value when the response was hex, or its
hex value when the response was decimal, some pad it with zeros. Getting this wrong loses
reports silently, so every form a receipt may use is turned into the same keys as the stored
id (`DLRHUB_SMPP_BINDS`' `receipt_ids`: `hex`, `dec` or `auto`).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from dlrhub.domain.carrier import SMPP_STATES, parse_receipt
from dlrhub.domain.status import MessageStatus

__all__ = [
    "MESSAGE_STATES",
    "Receipt",
    "ReceiptIds",
    "read_receipt",
    "receipt_id_keys",
    "state_of_parts",
    "state_of_tlv",
    "stored_id_key",
]


class ReceiptIds(StrEnum):
    """How an SMSC writes ids in receipt text, relative to its `submit_sm_resp` ids."""

    AUTO = "auto"  # unknown: try the text's id as written, as decimal and as hex
    HEX = "hex"  # the text's id is hexadecimal
    DEC = "dec"  # the text's id is decimal


# The `message_state` TLV (SMPP 3.4, 5.2.28). None: an intermediate state, no event.
MESSAGE_STATES: dict[int, MessageStatus | None] = {
    1: None,  # ENROUTE
    2: MessageStatus.DELIVERED,
    3: MessageStatus.EXPIRED,
    4: MessageStatus.ERROR,  # DELETED
    5: MessageStatus.ERROR,  # UNDELIVERABLE
    6: None,  # ACCEPTED
    7: MessageStatus.ERROR,  # UNKNOWN
    8: MessageStatus.ERROR,  # REJECTED
}

_HEX_DIGITS = frozenset(string.hexdigits)


def state_of_tlv(message_state: int) -> tuple[bool, MessageStatus | None]:
    """(known, status) for a `message_state` value; an unknown value is (False, None): the
    receipt is acknowledged and counted, never an error that makes the SMSC resend it."""
    if message_state in MESSAGE_STATES:
        return True, MESSAGE_STATES[message_state]
    return False, None


def stored_id_key(message_id: str) -> str:
    """The key a `submit_sm_resp` id is stored and looked up under: trimmed, lower-case, and
    without leading zeros when it is made of hex digits (ids are compared as numbers then)."""
    key = message_id.strip().lower()
    if key and all(ch in _HEX_DIGITS for ch in key):
        key = key.lstrip("0") or "0"
    return key


def receipt_id_keys(receipt_id: str, *, in_text: bool, mode: ReceiptIds) -> tuple[str, ...]:
    """The stored-id keys a receipt's id may stand for, most likely first.

    An id from the `receipted_message_id` TLV is the `submit_sm_resp` id itself. An id from
    the text is read as `mode` says: as hexadecimal (`hex`), decimal (`dec`) or, with `auto`,
    every reading it allows; each reading is also tried as written."""
    written = stored_id_key(receipt_id)
    if not in_text or not written:
        return (written,)
    keys = [written]
    raw = receipt_id.strip()
    if mode in (ReceiptIds.DEC, ReceiptIds.AUTO) and raw.isdigit() and raw.isascii():
        keys.append(format(int(raw), "x"))  # decimal text for a hex response id
    if mode in (ReceiptIds.HEX, ReceiptIds.AUTO) and all(ch in _HEX_DIGITS for ch in raw):
        keys.append(str(int(raw, 16)))  # hex text for a decimal response id
    return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Receipt:
    """What a receipt `deliver_sm` says: which submission (`carrier_id`, from the TLV or the
    text), whether its state was understood, the status it means (None: intermediate) and the
    error text of a failure."""

    carrier_id: str
    id_in_text: bool
    known: bool
    status: MessageStatus | None
    error: str | None


def read_receipt(
    text: str, *, receipted_message_id: str | None, message_state: int | None
) -> Receipt | None:
    """A receipt from its TLVs first and its text second; None when it names no submission.
    Never raises: whatever an SMSC sends is acknowledged, and what cannot be read is counted,
    not refused (a refused receipt is resent for ever)."""
    fields = parse_receipt(text)
    tlv_id = (receipted_message_id or "").strip()
    carrier_id = tlv_id or fields.get("id", "").strip()
    if not carrier_id:
        return None
    stat = fields.get("stat", "").upper()
    if message_state is not None:
        known, status = state_of_tlv(message_state)
    else:
        known, status = stat in SMPP_STATES, SMPP_STATES.get(stat)
    error = None
    if status in (MessageStatus.ERROR, MessageStatus.EXPIRED):
        err = fields.get("err", "")
        named = stat or f"message_state {message_state}"
        error = f"carrier: {named}" + (f" (err {err})" if err.strip("0") else "")
    return Receipt(carrier_id, not tlv_id, known, status, error)


def state_of_parts(parts: Sequence[MessageStatus | None]) -> MessageStatus | None:
    """A multi-part message's status from its parts' (None: no final report yet): a part that
    failed fails the message (applied as the receipts arrive, the first failure is the one
    that counts: ERROR and EXPIRED are final); otherwise DELIVERED once every part is."""
    for status in parts:
        if status in (MessageStatus.ERROR, MessageStatus.EXPIRED):
            return status
    if parts and all(status is MessageStatus.DELIVERED for status in parts):
        return MessageStatus.DELIVERED
    return None
