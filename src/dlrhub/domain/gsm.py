"""SMS segmentation per GSM 03.38.

Works out the encoding a text needs and how many concatenated SMS parts it takes, which
is what carriers bill and what the send API reports as ``totalParts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_SMS_PARTS", "Segmentation", "segment"]

MAX_SMS_PARTS = 10

# The GSM 03.38 default alphabet, in code-point order (0x1B, the escape, is left out
# because it is never a character of the text itself).
_BASIC_CHARS = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

# Reached through the escape code, so each costs two septets.
_EXTENSION_CHARS = frozenset("\f^{}\\[~]|€")

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
    if all(ch in _BASIC_CHARS or ch in _EXTENSION_CHARS for ch in text):
        septets = [2 if ch in _EXTENSION_CHARS else 1 for ch in text]
        return _pack("GSM-7", septets, _GSM_SINGLE, _GSM_MULTI)
    # Characters outside the BMP become a UTF-16 surrogate pair: two code units.
    code_units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return _pack("UCS-2", code_units, _UCS2_SINGLE, _UCS2_MULTI)


def _pack(
    encoding: Literal["GSM-7", "UCS-2"],
    widths: Iterable[int],
    single_limit: int,
    multi_limit: int,
) -> Segmentation:
    widths = list(widths)
    total = sum(widths)
    if total <= single_limit:
        return Segmentation(encoding, total, 1)
    # Pack greedily rather than dividing: an escape sequence or a surrogate pair is
    # indivisible, so one that would straddle a boundary starts the next part and
    # leaves a unit of the previous part unused.
    parts, used = 1, 0
    for width in widths:
        if used + width > multi_limit:
            parts += 1
            used = 0
        used += width
    return Segmentation(encoding, total, parts)
