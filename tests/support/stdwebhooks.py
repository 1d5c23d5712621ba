"""Independent Standard Webhooks (https://www.standardwebhooks.com) verification for tests.

Written from the specification, deliberately sharing no code with the application, so that the
application's signatures are checked against a second implementation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["SECRET_PREFIX", "SignatureError", "decode_secret", "sign", "verify"]

SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """The webhook did not pass Standard Webhooks verification."""


def decode_secret(secret: str) -> bytes:
    """Return the raw HMAC key of a ``whsec_<base64>`` secret (the prefix is optional)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"secret is not valid base64: {secret!r}") from exc


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature of one message (for building test fixtures)."""
    return "v1," + _signature(decode_secret(secret), msg_id, str(timestamp), body)


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    found: str | None = None
    for key, value in headers.items():
        if key.lower() == wanted:
            found = value
    if found is None or not found.strip():
        raise SignatureError(f"missing header {name!r}")
    return found.strip()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> None:
    """Verify a Standard Webhooks delivery; raise :class:`SignatureError` if it does not verify.

    * ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` must be present (header
      names are matched case-insensitively);
    * the timestamp (integer unix seconds) must be within ``tolerance_s`` of ``now``
      (default: the current time), in either direction;
    * at least one space-separated ``v1,<base64>`` entry of ``webhook-signature`` must equal
      base64(HMAC-SHA256(key, f"{id}.{timestamp}.".encode() + body)), compared in constant time.
    """
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")

    if not timestamp.isascii() or not timestamp.isdigit():
        raise SignatureError(f"webhook-timestamp is not integer unix seconds: {timestamp!r}")
    current = time.time() if now is None else now
    skew = current - int(timestamp)
    if skew > tolerance_s:
        raise SignatureError(f"webhook-timestamp {timestamp} is too old ({skew:.0f} s)")
    if skew < -tolerance_s:
        raise SignatureError(f"webhook-timestamp {timestamp} is in the future ({-skew:.0f} s)")

    expected = _signature(decode_secret(secret), msg_id, timestamp, body).encode("ascii")
    matched = False
    for entry in signatures.split(" "):
        version, sep, value = entry.partition(",")
        if not sep or version != "v1":
            continue
        # Keep comparing every entry so the time taken does not depend on which one matches.
        if hmac.compare_digest(value.encode("utf-8", "replace"), expected):
            matched = True
    if not matched:
        raise SignatureError("no v1 signature in webhook-signature matches")
