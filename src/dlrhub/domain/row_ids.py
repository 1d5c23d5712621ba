"""Identifiers of the rows dlrhub writes: UUID version 7 (RFC 9562).

A UUIDv7 starts with its creation time in milliseconds, so new rows land at the end of
every primary-key index instead of at random places in it. What the dispatcher touches
(recent events and deliveries) then stays in a few hot pages however much history the
tables hold: with random UUIDv4 keys, every lookup and insert wandered the whole index.
They are still UUIDs: the API's ids keep their shape.
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["new_id", "uuid7"]

_MAX_MILLIS = (1 << 48) - 1


def uuid7(unix_ms: int, random: bytes) -> uuid.UUID:
    """The UUIDv7 of a time (milliseconds since the epoch) and 10 random bytes."""
    if not 0 <= unix_ms <= _MAX_MILLIS:
        raise ValueError(f"unix_ms must fit in 48 bits, got {unix_ms}")
    if len(random) != 10:
        raise ValueError(f"a UUIDv7 takes 10 random bytes, got {len(random)}")
    bits = int.from_bytes(random, "big")
    rand_a = (bits >> 68) & 0xFFF  # 12 bits
    rand_b = bits & ((1 << 62) - 1)  # 62 bits
    value = unix_ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def new_id() -> str:
    """A new row id: a UUIDv7 for now."""
    return str(uuid7(time.time_ns() // 1_000_000, os.urandom(10)))
