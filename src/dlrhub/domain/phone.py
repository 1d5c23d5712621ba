"""E.164 phone number validation."""

from __future__ import annotations

import re

from dlrhub.domain.errors import FieldError, InvalidInput

__all__ = ["E164_PATTERN", "is_e164", "require_e164"]

# A leading zero is never a valid country code, hence [1-9]; the total of 8..15 digits
# rules out short codes while staying within the ITU maximum of 15.
E164_PATTERN: str = r"^\+[1-9][0-9]{7,14}$"

_E164 = re.compile(E164_PATTERN)

_E164_MESSAGE = "must be an E.164 number such as +393401234567"


def is_e164(value: str) -> bool:
    """Return whether ``value`` is an E.164 number such as ``+393401234567``."""
    # fullmatch so that "$" cannot accept a trailing newline.
    return _E164.fullmatch(value) is not None


def require_e164(value: str, field: str) -> str:
    """Return ``value`` if it is E.164, otherwise raise :class:`InvalidInput`."""
    if not is_e164(value):
        raise InvalidInput(
            f"{field} is not a valid E.164 phone number",
            errors=[FieldError(field, _E164_MESSAGE)],
        )
    return value
