"""The short form of an id that people read in the dashboard.

Row ids are UUIDv7 (see `domain/row_ids.py`): their first 8 hex digits are the top of a
millisecond timestamp and change only every 65 seconds, so two webhooks made together
share them. The last 8 hex digits come from the random part, so they tell neighbours apart
(two ids collide there with odds of 1 in 2**32); the full id stays on hover and on the
detail pages.
"""

from __future__ import annotations

import uuid

__all__ = ["SHORT_ID_LENGTH", "short_id"]

SHORT_ID_LENGTH = 8


def short_id(value: str) -> str:
    """The last `SHORT_ID_LENGTH` hex digits of a UUID; anything else (the public id
    `delivery-status`, say) is already short and readable, and is returned unchanged."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return value
    return parsed.hex[-SHORT_ID_LENGTH:]
