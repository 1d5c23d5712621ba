"""The store's exceptions: driver errors, turned into what they mean where they happen.

Services catch these, never a driver's exception or its text (SQLite and asyncpg word the
same violation differently, and neither promises its wording).
"""

from __future__ import annotations

from dlrhub.domain.errors import DlrhubError


class Duplicate(DlrhubError):
    """A write would have made a second row with the same unique key (primary key, unique
    constraint or unique index): the transaction was rolled back."""

    title = "Duplicate"
