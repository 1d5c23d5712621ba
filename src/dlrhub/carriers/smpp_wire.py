"""The few SMPP 3.4 PDUs dlrhub writes and reads by hand (docs/decisions/0001-smpp-library.md).

`submit_sm` and `deliver_sm` go through `smpp34`'s codec; what is left is a header plus a few
C-octet strings: `bind_transceiver`, `unbind`, `enquire_link`, their responses,
`deliver_sm_resp` and `generic_nack`, and reading the one string in a response body.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

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
    "bind_transceiver",
    "first_c_string",
    "pdu",
    "read_header",
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
