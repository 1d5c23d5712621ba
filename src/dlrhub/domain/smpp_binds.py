"""`DLRHUB_SMPP_BINDS` (SPEC §11.2; issue 11): the SMSCs to bind to, and how.

`smpp://SYSTEM_ID:PASSWORD@HOST:PORT?sessions=2&window=10` (`smpps://` for TLS), several
separated by commas. A mistake here is found at start-up with a message naming the bind and
the setting, never by a session that silently does something else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from dlrhub.domain.smpp_receipts import ReceiptIds

__all__ = ["SmppBind", "destination_address", "parse_binds", "source_address"]

# (default, lowest, highest) of each numeric query parameter.
_NUMBERS: dict[str, tuple[int, int, int]] = {
    "sessions": (1, 1, 64),
    "window": (10, 1, 1000),
    "rate": (50, 1, 10_000),
    "source_ton": (-1, 0, 6),  # -1: chosen per message from its sender (source_address)
    "source_npi": (-1, 0, 18),
    "dest_ton": (1, 0, 6),
    "dest_npi": (1, 0, 18),
}
_TEXTS = {"system_type": 13}  # SMPP 3.4: C-octet strings of at most 12 characters
_ID_LIMITS = {"system id": 16, "password": 9}  # C-octet strings of at most 15 and 8


class SessionState(StrEnum):
    """Where one of a bind's session slots stands, as `dlrhub carriers` shows it."""

    BOUND = "bound"  # a session is bound and carrying traffic
    CONNECTING = "connecting"  # held by a process that is (re)connecting or binding
    DOWN = "down"  # no process holds the slot


@dataclass(frozen=True)
class SmppBind:
    host: str
    port: int
    system_id: str
    password: str
    tls: bool
    system_type: str = ""
    sessions: int = 1
    window: int = 10
    rate: int = 50
    source_ton: int = -1
    source_npi: int = -1
    dest_ton: int = 1
    dest_npi: int = 1
    receipt_ids: ReceiptIds = ReceiptIds.AUTO

    @property
    def name(self) -> str:
        """How logs, metrics and `dlrhub carriers` name the bind (never with its password)."""
        return f"{self.system_id}@{self.host}:{self.port}"


def parse_binds(text: str) -> list[SmppBind]:
    """Every bind of the setting; ValueError naming the bind and what is wrong with it."""
    return [_parse_one(entry.strip()) for entry in text.split(",") if entry.strip()]


def _parse_one(entry: str) -> SmppBind:
    parts = urlsplit(entry)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = None
    shown = f"{parts.scheme}://{parts.hostname or '?'}:{port or '?'}"
    if parts.scheme not in ("smpp", "smpps"):
        raise ValueError(f"SMPP bind {shown}: the scheme must be smpp:// or smpps://")
    if not parts.hostname:
        raise ValueError(f"SMPP bind {shown}: no host")
    if not port:
        raise ValueError(f"SMPP bind {shown}: the port must be 1 to 65535")
    system_id = _decoded(parts.username or "")
    password = _decoded(parts.password or "")
    for value, what in ((system_id, "system id"), (password, "password")):
        if not value or len(value) >= _ID_LIMITS[what] or not value.isprintable():
            limit = _ID_LIMITS[what] - 1
            raise ValueError(
                f"SMPP bind {shown}: the {what} must be 1 to {limit} printable characters"
            )
    bind = SmppBind(
        host=parts.hostname,
        port=port,
        system_id=system_id,
        password=password,
        tls=parts.scheme == "smpps",
    )
    return replace(bind, **_options(shown, parts.query))


def _decoded(raw: str) -> str:
    """Percent-decoded strictly: bytes that are not UTF-8 give "" (refused as empty), never
    U+FFFD characters that would pass for printable text."""
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return ""


def _options(shown: str, query: str) -> dict[str, Any]:
    """The query's settings by field name, each checked."""
    options: dict[str, Any] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise ValueError(f"SMPP bind {shown}: the settings are not UTF-8 text") from None
    for key, value in pairs:
        if key in options:
            raise ValueError(f"SMPP bind {shown}: {key} is given twice")
        if key in _NUMBERS:
            _, low, high = _NUMBERS[key]
            # At most 6 digits before int(): a huge number is refused here, not by int()'s
            # own limit with a message about Python.
            digits = value.isascii() and value.isdigit() and len(value) <= 6
            if not digits or not low <= int(value) <= high:
                raise ValueError(f"SMPP bind {shown}: {key} must be a number from {low} to {high}")
            options[key] = int(value)
        elif key in _TEXTS:
            if len(value) >= _TEXTS[key] or not value.isprintable():
                raise ValueError(
                    f"SMPP bind {shown}: {key} is at most {_TEXTS[key] - 1} characters"
                )
            options[key] = value
        elif key == "receipt_ids":
            try:
                options[key] = ReceiptIds(value)
            except ValueError:
                raise ValueError(f"SMPP bind {shown}: receipt_ids is auto, hex or dec") from None
        else:
            raise ValueError(f"SMPP bind {shown}: unknown setting {key!r}")
    return options


def source_address(sender: str, bind: SmppBind) -> tuple[str, int, int]:
    """`submit_sm`'s (source_addr, source_addr_ton, source_addr_npi) for a message's sender:
    digits (an optional `+`) are an international number (TON 1, NPI 1), anything else is
    alphanumeric (TON 5, NPI 0), unless the bind fixes TON and NPI."""
    digits = sender.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        address, ton, npi = digits, 1, 1
    else:
        address, ton, npi = sender, 5, 0
    if bind.source_ton >= 0:
        ton = bind.source_ton
    if bind.source_npi >= 0:
        npi = bind.source_npi
    return address, ton, npi


def destination_address(destination: str, bind: SmppBind) -> tuple[str, int, int]:
    """`submit_sm`'s (destination_addr, dest_addr_ton, dest_addr_npi): the E.164 number
    without its `+`."""
    return destination.removeprefix("+"), bind.dest_ton, bind.dest_npi
