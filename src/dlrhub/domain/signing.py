"""Webhook signatures following the Standard Webhooks specification.

The signed content is ``{msg_id}.{timestamp}.{body}`` and each signature is
``v1,<base64 HMAC-SHA256>``. Several secrets can sign at once so that receivers keep
verifying while a secret is being rotated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from dlrhub.domain.errors import InvalidInput

__all__ = ["SECRET_PREFIX", "new_secret", "secret_key", "sign", "signature_headers"]

SECRET_PREFIX = "whsec_"


def new_secret(random_bytes: bytes) -> str:
    """Return a secret in ``whsec_<base64>`` form built from caller-supplied random bytes."""
    if not random_bytes:
        raise ValueError("a signing secret needs at least one random byte")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


def secret_key(secret: str) -> bytes:
    """Return the HMAC key encoded in ``secret``, or raise :class:`InvalidInput`."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidInput(f"signing secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # validate=True so stray characters are an error instead of being silently dropped.
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("signing secret is not valid base64") from exc
    if not key:
        raise InvalidInput("signing secret is empty")
    return key


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value: one ``v1,<sig>`` per secret, space-separated."""
    # A bare str is also a Sequence[str]; iterating it would sign with each character.
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not a single string")
    if not secrets:
        raise ValueError("at least one secret is needed to sign a webhook")
    signed_content = f"{msg_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in secrets:
        digest = hmac.new(secret_key(secret), signed_content, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode("ascii"))
    return " ".join(signatures)


def signature_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the three Standard Webhooks headers for one delivery attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
    }
