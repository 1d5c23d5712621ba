from __future__ import annotations

import pytest

from dlrhub.domain.row_ids import uuid7
from dlrhub.domain.short_ids import SHORT_ID_LENGTH, short_id

SAME_MS = 1_760_000_000_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01a22554-9c3e-7d2a-8b1f-3e4d5c6b7a89", "5c6b7a89"),
        ("01A22554-9C3E-7D2A-8B1F-3E4D5C6B7A89", "5c6b7a89"),  # always lower case
        ("01a225549c3e7d2a8b1f3e4d5c6b7a89", "5c6b7a89"),  # hyphens are optional in a UUID
        ("delivery-status", "delivery-status"),  # the public id is not a UUID: kept whole
        ("01a22554", "01a22554"),  # too short to be a UUID: kept whole
        ("", ""),
        ("not-a-uuid-at-all-but-rather-long-00", "not-a-uuid-at-all-but-rather-long-00"),
    ],
)
def test_short_id(value: str, expected: str) -> None:
    assert short_id(value) == expected


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"\x00" * 9 + b"\x01", b"\x00" * 9 + b"\x02"),
        (bytes(range(10)), bytes(range(10, 20))),
        (b"\xff" * 10, b"\x00" * 10),
    ],
)
def test_ids_made_in_the_same_millisecond_have_different_short_ids(
    first: bytes, second: bytes
) -> None:
    a, b = str(uuid7(SAME_MS, first)), str(uuid7(SAME_MS, second))
    assert a[:SHORT_ID_LENGTH] == b[:SHORT_ID_LENGTH]  # what the dashboard used to show
    assert short_id(a) != short_id(b)
    assert len(short_id(a)) == SHORT_ID_LENGTH
    assert a.replace("-", "").endswith(short_id(a))
