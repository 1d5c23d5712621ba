"""How dlrhub keeps the random bearer tokens it hands out: API keys and dashboard sessions."""

from __future__ import annotations

import hashlib

__all__ = ["token_digest"]


def token_digest(token: str) -> str:
    """The stored form of a token: its SHA-256, in hex.

    The tokens are 256-bit random values, so a fast unsalted hash is enough to make a leaked
    table useless (as keys or as cookies); a slow KDF would only slow down every
    authenticated request.
    """
    return hashlib.sha256(token.encode()).hexdigest()
