from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dlrhub.domain.api_keys import (
    LAST_USED_RESOLUTION,
    UsageMemo,
    canonical_key_id,
    check_key_name,
)
from dlrhub.domain.errors import InvalidInput

T0 = datetime(2026, 4, 9, 10, 30, 0, tzinfo=UTC)
KEY_ID = "0190f1e2-3a4b-7c5d-8e6f-a1b2c3d4e5f6"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ci", "ci"),
        ("  billing service ", "billing service"),
        ("demo (serve --dev)", "demo (serve --dev)"),
        ("x" * 200, "x" * 200),
        ("ключ 🔑", "ключ 🔑"),
    ],
)
def test_good_names(raw: str, expected: str) -> None:
    assert check_key_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "must not be empty"),
        ("  \t ", "must not be empty"),
        ("x" * 201, "must be at most 200 characters"),
        ("a\x00b", "must not contain control characters"),
        ("a\x1bb", "must not contain control characters"),
        ("a\nb", "must not contain control characters"),
        ("a\ud800b", "must not contain control characters"),
    ],
)
def test_bad_names(raw: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_key_name(raw)
    assert [(e.field, e.message) for e in caught.value.errors] == [("name", problem)]
    assert str(caught.value) == f"name {problem}"  # the problem body's detail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (KEY_ID, KEY_ID),
        (KEY_ID.upper(), KEY_ID),
        ("not-a-key", None),
        ("x" * 36, None),
        ("{" + KEY_ID[:34] + "}", None),
        (KEY_ID + "0", None),
        ("\x00" * 36, None),
        ("", None),
    ],
)
def test_canonical_key_id(raw: str, expected: str | None) -> None:
    assert canonical_key_id(raw) == expected


S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("recorded_here", "stored", "now", "due"),
    [
        (None, None, T0, True),  # never used
        (None, T0 - 30 * S, T0, False),  # another process wrote it 30 s ago
        (None, T0 - 60 * S, T0, True),  # a minute ago: due again
        (T0 - 10 * S, None, T0, False),  # this process wrote it; the read predates that
        (T0 - 10 * S, T0 - 90 * S, T0, False),
        (T0 - 90 * S, T0 - 20 * S, T0, False),
        (T0 - 61 * S, T0 - 61 * S, T0, True),
        (None, T0 + 5 * S, T0, False),  # another process's clock is ahead
    ],
)
def test_usage_is_due_once_a_resolution(
    recorded_here: datetime | None, stored: datetime | None, now: datetime, due: bool
) -> None:
    memo = UsageMemo()
    if recorded_here is not None:
        assert memo.due(KEY_ID, None, recorded_here)
    assert memo.due(KEY_ID, stored, now) is due


def test_due_marks_at_once_and_per_key() -> None:
    memo = UsageMemo()
    assert memo.due("a", None, T0)
    assert not memo.due("a", None, T0)  # a concurrent request, same read
    assert memo.due("b", None, T0)
    assert not memo.due("a", None, T0 + LAST_USED_RESOLUTION - S)
    assert memo.due("a", None, T0 + LAST_USED_RESOLUTION)


def test_memo_stays_bounded() -> None:
    memo = UsageMemo(limit=3)
    for i in range(3):
        assert memo.due(f"old-{i}", None, T0)
    later = T0 + LAST_USED_RESOLUTION
    assert memo.due("new", None, later)
    assert len(memo._recorded) == 1
    assert not memo.due("new", None, later)
