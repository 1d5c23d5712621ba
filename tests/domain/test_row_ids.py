from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.row_ids import new_id, uuid7


@given(st.integers(0, (1 << 48) - 1), st.binary(min_size=10, max_size=10))
def test_a_uuid7_carries_its_time_version_and_variant(unix_ms: int, random: bytes) -> None:
    value = uuid7(unix_ms, random)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == unix_ms
    assert uuid.UUID(str(value)) == value


@given(
    st.integers(0, (1 << 48) - 2),
    st.binary(min_size=10, max_size=10),
    st.binary(min_size=10, max_size=10),
)
def test_later_ids_sort_after_earlier_ones(unix_ms: int, first: bytes, second: bytes) -> None:
    assert str(uuid7(unix_ms, first)) < str(uuid7(unix_ms + 1, second))


@pytest.mark.parametrize(
    ("unix_ms", "random"), [(-1, bytes(10)), (1 << 48, bytes(10)), (0, bytes(9)), (0, bytes(11))]
)
def test_out_of_range_inputs_are_refused(unix_ms: int, random: bytes) -> None:
    with pytest.raises(ValueError, match=r"48 bits|10 random bytes"):
        uuid7(unix_ms, random)


def test_new_ids_are_distinct_uuids_in_creation_order() -> None:
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(i).version == 7 for i in ids)
    # Same-millisecond ids are in random order; across milliseconds they are ordered.
    assert ids[0][:8] <= ids[-1][:8]


def test_the_rfc_9562_example() -> None:
    """RFC 9562, appendix A.6: 12 random bits after the version, 62 after the variant; the
    six random bits between them are the ones a UUIDv7 has no room for."""
    rand_a, rand_b = 0xCC3, 0x18C4DC0C0C07398F
    random = (rand_a << 68 | 0b101101 << 62 | rand_b).to_bytes(10, "big")
    assert str(uuid7(0x017F22E279B0, random)) == "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"


def test_a_new_id_carries_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_id())
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after
