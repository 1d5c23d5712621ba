"""Validation of customer-chosen identifiers: message ids and sender ids."""

from __future__ import annotations

import re
import unicodedata

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.phone import is_e164

__all__ = ["MAX_CUSTOMER_MESSAGE_ID_LENGTH", "check_customer_message_id", "check_sender"]

MAX_CUSTOMER_MESSAGE_ID_LENGTH = 64

_SHORT_CODE = re.compile(r"[0-9]{3,15}")
# Alphanumeric sender ids are limited to 11 characters by the GSM TP-OA field.
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ._-]{1,11}")
_LETTER = re.compile(r"[A-Za-z]")


def check_customer_message_id(value: str, field: str = "messageId") -> str:
    """Return ``value`` if it is usable as a customer message id, else raise InvalidInput."""
    problem = _customer_message_id_problem(value)
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", errors=[FieldError(field, problem)])
    return value


def _customer_message_id_problem(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if len(value) > MAX_CUSTOMER_MESSAGE_ID_LENGTH:
        return f"must be at most {MAX_CUSTOMER_MESSAGE_ID_LENGTH} characters"
    # Batch polling separates ids with commas and single polling puts the id in the path.
    if "," in value:
        return "must not contain a comma"
    if "/" in value:
        return "must not contain a slash"
    if any(_is_space_or_control(ch) for ch in value):
        return "must not contain whitespace or control characters"
    return None


def _is_space_or_control(ch: str) -> bool:
    # Cf covers invisible format characters (zero-width space and the like); Cs covers
    # lone surrogates, which cannot be stored or sent as UTF-8.
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs")


def check_sender(value: str, field: str = "sender") -> str:
    """Return ``value`` if it is an E.164 number, a short code or an alphanumeric sender id."""
    if is_e164(value) or _SHORT_CODE.fullmatch(value):
        return value
    if _ALPHANUMERIC_SENDER.fullmatch(value) and _LETTER.search(value):
        return value
    raise InvalidInput(
        f"{field} is not a valid sender", errors=[FieldError(field, _sender_problem(value))]
    )


def _sender_problem(value: str) -> str:
    if value.startswith("+"):
        return "must be an E.164 number such as +393401234567"
    if value.isascii() and value.isdigit():
        return "a numeric sender must be a short code of 3 to 15 digits"
    return (
        "an alphanumeric sender must be 1 to 11 characters from letters, digits, "
        "space, '.', '-' and '_', with at least one letter"
    )
