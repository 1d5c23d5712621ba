"""What `dlrhub listen` flags (docs/ordering.md): duplicates by webhook-id, and a message's
event arriving after one with a higher sequence."""

from __future__ import annotations

import pytest

from dlrhub.domain.arrivals import ArrivalCheck

# Each case: arrivals as (webhook-id, messageId, sequence), and the flags of each.
CASES = [
    ("in order", [("a", "m", 1), ("b", "m", 2)], [[], []]),
    ("a repeat", [("a", "m", 1), ("a", "m", 1)], [[], ["duplicate"]]),
    (
        "read before delivery",
        [("b", "m", 2), ("a", "m", 1)],
        [[], ["out of order (sequence 1 after 2)"]],
    ),
    ("two messages interleaved", [("a", "m", 2), ("b", "n", 1)], [[], []]),
    ("a gap is not out of order", [("a", "m", 1), ("c", "m", 3)], [[], []]),
    ("no sequence (INBOUND)", [("a", None, None), ("b", None, None)], [[], []]),
    (
        "a repeat of an older event",
        [("b", "m", 2), ("a", "m", 1), ("a", "m", 1)],
        [
            [],
            ["out of order (sequence 1 after 2)"],
            ["duplicate"],
        ],
    ),
    ("a sequence that is not a number", [("a", "m", "2"), ("b", "m", True)], [[], []]),
    (
        "no webhook-id",
        [(None, "m", 2), (None, "m", 1)],
        [[], ["out of order (sequence 1 after 2)"]],
    ),
]


@pytest.mark.parametrize(("name", "arrivals", "expected"), CASES, ids=[c[0] for c in CASES])
def test_flags(
    name: str, arrivals: list[tuple[str | None, str | None, object]], expected: list[list[str]]
) -> None:
    check = ArrivalCheck()
    assert [check.flags(*arrival) for arrival in arrivals] == expected


def test_memory_is_bounded() -> None:
    check = ArrivalCheck(limit=2)
    for webhook_id in ("a", "b", "c"):
        assert check.flags(webhook_id, None, None) == []
    assert check.flags("a", None, None) == []  # forgotten: the oldest of three
    assert check.flags("c", None, None) == ["duplicate"]
