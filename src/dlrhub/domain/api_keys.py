"""Rules of API keys: what a key's name may be, when its last use is worth writing down, and
what a key id looks like."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from dlrhub.domain.errors import FieldError, InvalidInput

__all__ = [
    "LAST_USED_RESOLUTION",
    "MAX_KEY_CACHE_S",
    "MAX_KEY_NAME_LENGTH",
    "RecentKeys",
    "UsageMemo",
    "canonical_key_id",
    "check_key_name",
]

MAX_KEY_NAME_LENGTH = 200
# `lastUsedAt` is only this precise: writing it on every request would turn each read into a
# write; a minute is enough to tell a key in use from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# SPEC §14: a revoked key stops working within 5 s in every process; a process may remember a
# key it found live for at most this long without reading its row again.
MAX_KEY_CACHE_S = 5.0

ValueT = TypeVar("ValueT")


def check_key_name(value: str, field: str = "name") -> str:
    """The name, trimmed, if it is usable as a key's name; else InvalidInput."""
    name = value.strip()
    problem = _name_problem(name)
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", errors=[FieldError(field, problem)])
    return name


def _name_problem(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if len(name) > MAX_KEY_NAME_LENGTH:
        return f"must be at most {MAX_KEY_NAME_LENGTH} characters"
    # Control characters (NUL among them) and lone surrogates cannot be stored on PostgreSQL
    # nor shown safely in a terminal or a page.
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        return "must not contain control characters"
    return None


def canonical_key_id(value: str) -> str | None:
    """A key id as stored (a lowercase UUID), or None if `value` cannot be one."""
    if len(value) != 36:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class UsageMemo:
    """Which keys had their last use recorded recently, in this process.

    A key's use is worth writing when neither this process nor the database (`stored`, what
    the key's row said when it was read) has a use within `LAST_USED_RESOLUTION`. `due` marks
    the key at once, so that concurrent requests with one key write it once, not each.
    """

    def __init__(self, resolution: timedelta = LAST_USED_RESOLUTION, limit: int = 10_000) -> None:
        self._resolution = resolution
        self._limit = limit
        self._recorded: dict[str, datetime] = {}

    def due(self, key_id: str, stored: datetime | None, now: datetime) -> bool:
        latest = self._recorded.get(key_id)
        if stored is not None and (latest is None or stored > latest):
            latest = stored
        if latest is not None and now - latest < self._resolution:
            self._recorded[key_id] = latest
            return False
        self._forget_old(now)
        self._recorded[key_id] = now
        return True

    def _forget_old(self, now: datetime) -> None:
        # Bounded: keys not seen for a resolution are due anyway, so forgetting them is free.
        if len(self._recorded) >= self._limit:
            self._recorded = {
                key: at for key, at in self._recorded.items() if now - at < self._resolution
            }


class RecentKeys(Generic[ValueT]):
    """Keys this process found live, remembered for `ttl` so that a burst of requests with one
    key reads its row once, not once per request.

    Only live keys are remembered: an unknown key (a typo, an attacker guessing) is read every
    time, so guesses cannot fill the memory. Revoking a key in this process calls `forget_all`
    once the revocation has committed; other processes stop accepting it when their entry
    expires, at most `ttl` later. A reader takes the `epoch` before it reads the key's row and
    hands it to `put`: a row read before a revocation committed is never remembered after it.
    """

    def __init__(self, ttl: timedelta, limit: int = 10_000) -> None:
        if ttl > timedelta(seconds=MAX_KEY_CACHE_S):
            raise ValueError(f"a key may be remembered for at most {MAX_KEY_CACHE_S:g} s")
        self._ttl = ttl
        self._limit = limit
        self._seen: dict[str, tuple[datetime, ValueT]] = {}
        self._epoch = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    def get(self, digest: str, now: datetime) -> ValueT | None:
        found = self._seen.get(digest)
        if found is None:
            return None
        seen_at, value = found
        # A clock that went back is treated like an expired entry: read the row again.
        if not seen_at <= now < seen_at + self._ttl:
            del self._seen[digest]
            return None
        return value

    def put(self, digest: str, value: ValueT, now: datetime, *, epoch: int) -> None:
        if self._ttl <= timedelta(0) or epoch != self._epoch:
            return
        if len(self._seen) >= self._limit:
            self._seen = {
                key: entry
                for key, entry in self._seen.items()
                if entry[0] <= now < entry[0] + self._ttl
            }
            if len(self._seen) >= self._limit:  # all still fresh: start over, never grow
                self._seen.clear()
        self._seen[digest] = (now, value)

    def forget_all(self) -> None:
        self._seen.clear()
        self._epoch += 1
