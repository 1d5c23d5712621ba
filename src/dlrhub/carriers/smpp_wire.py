"""SMPP 3.4 PDUs as bytes (docs/decisions/0001-smpp-library.md).

`submit_sm` and `deliver_sm` go through `smpp34`'s codec, to and from the values the session
exchanges with its caller (`SubmitPart`, `Incoming`); the rest is written and read here by hand,
a header plus a few C-octet strings: `bind_transceiver`, `unbind`, `enquire_link`, their
responses, `deliver_sm_resp` and `generic_nack`, and the one string in a response body.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import smpp34

__all__ = [
    "BIND_TRANSCEIVER",
    "BIND_TRANSCEIVER_RESP",
    "DELIVER_SM",
    "DELIVER_SM_RESP",
    "ENQUIRE_LINK",
    "ENQUIRE_LINK_RESP",
    "ESME_RINVCMDID",
    "ESME_ROK",
    "ESME_RSYSERR",
    "ESME_RX_T_APPN",
    "GENERIC_NACK",
    "HEADER_LENGTH",
    "MAX_PDU_LENGTH",
    "RESPONSE_BIT",
    "SUBMIT_SM",
    "SUBMIT_SM_RESP",
    "TLV_MESSAGE_STATE",
    "TLV_RECEIPTED_MESSAGE_ID",
    "UNBIND",
    "UNBIND_RESP",
    "Header",
    "Incoming",
    "SubmitPart",
    "SubmitResult",
    "bind_transceiver",
    "first_c_string",
    "incoming",
    "pdu",
    "read_header",
    "submit_sm",
]

GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
RESPONSE_BIT = 0x80000000

# The deliver_sm TLVs a receipt is read from (SMPP 3.4, 5.3.2.12 and 5.3.2.35).
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427

ESME_ROK = 0x00
ESME_RINVCMDID = 0x03
ESME_RSYSERR = 0x08
ESME_RX_T_APPN = 0x64  # "ESME receiver temporary application error": the SMSC retries later

HEADER_LENGTH = 16
# Far above any PDU an SMSC sends dlrhub (a deliver_sm with its TLVs is well under 1 KiB); a
# larger length is a broken or hostile peer, and reading it would hold that much memory.
MAX_PDU_LENGTH = 64 * 1024
INTERFACE_VERSION = 0x34

_HEADER = struct.Struct(">IIII")
_RECEIPT_BIT = 0x04  # esm_class: SMSC delivery receipt (SMPP 3.4, 5.2.12)


@dataclass(frozen=True)
class SubmitPart:
    """One `submit_sm`; `short_message` includes the UDH when `esm_class` has 0x40."""

    source_addr: str
    source_ton: int
    source_npi: int
    destination_addr: str
    dest_ton: int
    dest_npi: int
    esm_class: int
    data_coding: int
    short_message: bytes


@dataclass(frozen=True)
class SubmitResult:
    command_status: int
    message_id: str  # "" unless ESME_ROK


@dataclass(frozen=True)
class Incoming:
    """A `deliver_sm` from the SMSC: a delivery receipt or a mobile-originated message."""

    esm_class: int
    source_addr: str
    destination_addr: str
    data_coding: int
    short_message: bytes
    receipted_message_id: str | None
    message_state: int | None

    @property
    def is_receipt(self) -> bool:
        return bool(self.esm_class & _RECEIPT_BIT)


@dataclass(frozen=True)
class Header:
    command_length: int
    command_id: int
    command_status: int
    sequence_number: int

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


def read_header(frame: bytes) -> Header:
    """The header of a whole PDU (at least 16 bytes, checked by the framing)."""
    return Header(*_HEADER.unpack_from(frame))


def pdu(command_id: int, sequence_number: int, body: bytes = b"", *, status: int = 0) -> bytes:
    """A whole PDU: the header (its length counted) and `body`."""
    return _HEADER.pack(HEADER_LENGTH + len(body), command_id, status, sequence_number) + body


def _c_string(text: str) -> bytes:
    return text.encode("ascii") + b"\x00"


def bind_transceiver(
    sequence_number: int, *, system_id: str, password: str, system_type: str
) -> bytes:
    """`bind_transceiver` (SMPP 3.4, 4.1.5): interface version 3.4, no address range."""
    body = (
        _c_string(system_id)
        + _c_string(password)
        + _c_string(system_type)
        + bytes((INTERFACE_VERSION, 0, 0))  # addr_ton, addr_npi: unknown
        + _c_string("")  # address_range
    )
    return pdu(BIND_TRANSCEIVER, sequence_number, body)


def first_c_string(body: bytes) -> str:
    """The C-octet string a response body starts with (`message_id`, `system_id`): "" for an
    empty body (SMSCs often send none with an error status), the whole body when its NUL is
    missing; bytes that are not ASCII are replaced, never an error."""
    end = body.find(b"\x00")
    raw = body if end < 0 else body[:end]
    return raw.decode("ascii", errors="replace")


def submit_sm(part: SubmitPart, sequence_number: int) -> bytes:
    """A `submit_sm` asking for a delivery receipt (`registered_delivery` 1)."""
    return smpp34.SubmitSm(
        part.source_addr,
        part.destination_addr,
        part.short_message,
        source_addr_ton=part.source_ton,
        source_addr_npi=part.source_npi,
        dest_addr_ton=part.dest_ton,
        dest_addr_npi=part.dest_npi,
        esm_class=part.esm_class,
        registered_delivery=1,
        data_coding=part.data_coding,
        sequence_number=sequence_number,
    ).encode()


def incoming(pdu: smpp34.DeliverSm) -> Incoming:
    receipted: str | None = None
    state: int | None = None
    for tlv in pdu.tlvs:
        if tlv.tag == TLV_RECEIPTED_MESSAGE_ID:
            receipted = tlv.value.split(b"\x00", 1)[0].decode("ascii", errors="replace")
        elif tlv.tag == TLV_MESSAGE_STATE and len(tlv.value) == 1:
            state = tlv.value[0]
    return Incoming(
        esm_class=pdu.esm_class,
        source_addr=pdu.source_addr,
        destination_addr=pdu.destination_addr,
        data_coding=pdu.data_coding,
        short_message=pdu.short_message,
        receipted_message_id=receipted,
        message_state=state,
    )
