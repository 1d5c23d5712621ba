from __future__ import annotations

import re

import pytest

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.phone import E164_PATTERN, is_e164, require_e164


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+393401234567", True),
        ("+12345678", True),  # 8 digits: the shortest accepted
        ("+123456789012345", True),  # 15 digits: the longest accepted
        ("+1234567", False),  # 7 digits
        ("+1234567890123456", False),  # 16 digits
        ("+0393401234567", False),  # country codes never start with 0
        ("393401234567", False),  # no plus
        ("++393401234567", False),
        ("+39 340 1234567", False),
        ("+39-340-1234567", False),
        ("+393401234567\n", False),
        (" +393401234567", False),
        ("+39340123456a", False),
        ("+٣٩٣٤٠١٢٣٤٥٦٧", False),  # Arabic-Indic digits are not ASCII digits
        ("", False),
        ("+", False),
    ],
)
def test_is_e164(value: str, expected: bool) -> None:
    assert is_e164(value) is expected


def test_pattern_agrees_with_is_e164() -> None:
    assert re.fullmatch(E164_PATTERN, "+393401234567")
    assert not re.fullmatch(E164_PATTERN, "+0393401234567")


def test_require_e164_returns_value() -> None:
    assert require_e164("+393401234567", "destination") == "+393401234567"


def test_require_e164_raises_with_field_error() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        require_e164("3401234567", "destination")
    assert excinfo.value.status == 400
    assert excinfo.value.errors == [
        FieldError("destination", "must be an E.164 number such as +393401234567")
    ]


def test_the_refusal_names_the_field_in_its_detail() -> None:
    with pytest.raises(InvalidInput) as caught:
        require_e164("12", "wabaNumber")
    assert caught.value.detail == "wabaNumber is not a valid E.164 phone number"
