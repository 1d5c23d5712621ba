"""SMS segmentation and encoding per GSM 03.38.

Works out the encoding a text needs and how many concatenated SMS parts it takes, which
is what carriers bill and what the send API reports as ``totalParts``; and the bytes of each
part as an SMPP `submit_sm` carries them (`encode`), split exactly as `segment` counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_SMS_PARTS",
    "EncodedSms",
    "Segmentation",
    "decode_short_message",
    "encode",
    "segment",
]

MAX_SMS_PARTS = 10

_ESCAPE = 0x1B
# The GSM 03.38 default alphabet: each character's position is its code (0x1B, the escape,
# is never a character of the text itself).
_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_BASIC_CODES = {ch: code for code, ch in enumerate(_BASIC_TABLE) if code != _ESCAPE}
_BASIC_CHARS = frozenset(_BASIC_CODES)

# Reached through the escape code, so each costs two septets.
_EXTENSION_CODES = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_EXTENSION_CHARS = frozenset(_EXTENSION_CODES)

_GSM_SINGLE, _GSM_MULTI = 160, 153
# The multipart limits are lower because each part carries a 6-byte concatenation header.
_UCS2_SINGLE, _UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class Segmentation:
    """How a text is sent: its encoding, its length in units and its number of parts."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    parts: int


def segment(text: str) -> Segmentation:
    """Return the encoding, unit count and SMS part count for ``text``."""
    encoding, widths = _widths(text)
    return Segmentation(encoding, sum(widths), len(_split(encoding, widths)))


def _widths(text: str) -> tuple[Literal["GSM-7", "UCS-2"], list[int]]:
    """The encoding `text` needs, and each character's width in its units."""
    if all(ch in _BASIC_CHARS or ch in _EXTENSION_CHARS for ch in text):
        return "GSM-7", [2 if ch in _EXTENSION_CHARS else 1 for ch in text]
    # Characters outside the BMP become a UTF-16 surrogate pair: two code units.
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _split(encoding: Literal["GSM-7", "UCS-2"], widths: Iterable[int]) -> list[range]:
    """The characters of each part, as ranges of character positions."""
    widths = list(widths)
    single_limit, multi_limit = (
        (_GSM_SINGLE, _GSM_MULTI) if encoding == "GSM-7" else (_UCS2_SINGLE, _UCS2_MULTI)
    )
    if sum(widths) <= single_limit:
        return [range(len(widths))]
    # Pack greedily rather than dividing: an escape sequence or a surrogate pair is
    # indivisible, so one that would straddle a boundary starts the next part and
    # leaves a unit of the previous part unused.
    parts: list[range] = []
    start, used = 0, 0
    for position, width in enumerate(widths):
        if used + width > multi_limit:
            parts.append(range(start, position))
            start, used = position, 0
        used += width
    parts.append(range(start, len(widths)))
    return parts


@dataclass(frozen=True)
class EncodedSms:
    """A text as SMPP `submit_sm`s carry it: the `data_coding` of every part (0: the GSM
    03.38 default alphabet, one septet per octet, unpacked; 8: UCS-2) and each part's
    `short_message`, led by a concatenation header when there are several (`esm_class` 0x40)."""

    data_coding: int
    parts: tuple[bytes, ...]


def encode(text: str, reference: int) -> EncodedSms:
    """The parts of `text`, split exactly as `segment` counts them; `reference` (0 to 255) ties
    the parts of one message together in their 8-bit-reference concatenation headers."""
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"a concatenation reference is 0 to 255, not {reference}")
    encoding, widths = _widths(text)
    ranges = _split(encoding, widths)
    to_bytes = _gsm_bytes if encoding == "GSM-7" else _ucs2_bytes
    bodies = [to_bytes(text[r.start : r.stop]) for r in ranges]
    if len(bodies) > 0xFF:
        raise ValueError(f"{len(bodies)} parts do not fit an 8-bit concatenation header")
    if len(bodies) > 1:
        # IEI 0x00 (concatenation, 8-bit reference), 3 bytes: reference, total, sequence.
        bodies = [
            bytes((0x05, 0x00, 0x03, reference, len(bodies), number)) + body
            for number, body in enumerate(bodies, start=1)
        ]
    return EncodedSms(0 if encoding == "GSM-7" else 8, tuple(bodies))


def _gsm_bytes(text: str) -> bytes:
    out = bytearray()
    for ch in text:
        if ch in _EXTENSION_CODES:
            out += bytes((_ESCAPE, _EXTENSION_CODES[ch]))
        else:
            out.append(_BASIC_CODES[ch])
    return bytes(out)


def _ucs2_bytes(text: str) -> bytes:
    # UTF-16 big-endian: what SMSCs read as data_coding 8 (surrogate pairs included).
    return text.encode("utf-16-be")


_BASIC_BY_CODE = {code: ch for ch, code in _BASIC_CODES.items()}
_EXTENSION_BY_CODE = {code: ch for ch, code in _EXTENSION_CODES.items()}
_UDHI = 0x40  # esm_class: short_message starts with a user data header


def decode_short_message(short_message: bytes, *, data_coding: int, esm_class: int) -> str:
    """The text of a `deliver_sm` (an MO), its user data header skipped. Never raises: a byte
    no alphabet knows becomes U+FFFD, so an odd message is still delivered, visibly odd.

    data_coding 0 is the GSM default alphabet (one septet per octet), 8 UCS-2, 3 Latin-1,
    1 ASCII; any other is read as Latin-1, the least surprising guess for 8-bit data."""
    data = short_message
    if esm_class & _UDHI and data:
        data = data[1 + data[0] :]
    if data_coding == 0:
        return _gsm_text(data)
    if data_coding == 8:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == 1:
        return data.decode("ascii", errors="replace")
    return data.decode("latin-1")


def _gsm_text(data: bytes) -> str:
    text: list[str] = []
    escaped = False
    for byte in data:
        if escaped:
            text.append(_EXTENSION_BY_CODE.get(byte, "\ufffd"))
            escaped = False
        elif byte == _ESCAPE:
            escaped = True
        else:
            text.append(_BASIC_BY_CODE.get(byte, "\ufffd"))
    if escaped:  # an escape with nothing after it
        text.append("\ufffd")
    return "".join(text)
