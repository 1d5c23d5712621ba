"""Rules of API keys: what a key's name may be, when its last use is worth writing down, and
what a key id looks like."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime, timedelta

from dlrhub.domain.errors import FieldError, InvalidInput

__all__ = [
    "LAST_USED_RESOLUTION",
    "MAX_KEY_NAME_LENGTH",
    "UsageMemo",
    "canonical_key_id",
    "check_key_name",
]

MAX_KEY_NAME_LENGTH = 200
# `lastUsedAt` is only this precise: writing it on every request would turn each read into a
# write; a minute is enough to tell a key in use from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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
