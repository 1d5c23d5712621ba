"""RecentKeys: how long a live key is remembered, and what is never remembered (SPEC §14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dlrhub.domain.api_keys import RecentKeys

T0 = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)
TTL = timedelta(seconds=2)


@pytest.mark.parametrize(
    ("asked_after", "remembered"),
    [
        (timedelta(0), True),
        (timedelta(seconds=1.999), True),
        (timedelta(seconds=2), False),  # the TTL is a bound, not a minimum
        (timedelta(seconds=60), False),
        (timedelta(seconds=-1), False),  # the clock went back: read the row again
    ],
)
def test_a_key_is_remembered_for_the_ttl_only(asked_after: timedelta, remembered: bool) -> None:
    keys = RecentKeys[str](TTL)
    keys.put("digest", "account", T0, epoch=keys.epoch)
    assert (keys.get("digest", T0 + asked_after) == "account") is remembered


def test_an_expired_key_stays_forgotten() -> None:
    keys = RecentKeys[str](TTL)
    keys.put("digest", "account", T0, epoch=keys.epoch)
    assert keys.get("digest", T0 + TTL) is None
    assert keys.get("digest", T0) is None  # dropped, not merely hidden


def test_forget_all_forgets_every_key() -> None:
    keys = RecentKeys[str](TTL)
    keys.put("a", "1", T0, epoch=keys.epoch)
    keys.put("b", "2", T0, epoch=keys.epoch)
    keys.forget_all()
    assert (keys.get("a", T0), keys.get("b", T0)) == (None, None)


def test_a_row_read_before_a_revocation_is_not_remembered_after_it() -> None:
    keys = RecentKeys[str](TTL)
    epoch = keys.epoch  # a reader starts reading the key's row …
    keys.forget_all()  # … a revocation commits meanwhile …
    keys.put("digest", "account", T0, epoch=epoch)  # … and the stale row arrives
    assert keys.get("digest", T0) is None
    keys.put("digest", "account", T0, epoch=keys.epoch)
    assert keys.get("digest", T0) == "account"


def test_a_zero_ttl_remembers_nothing() -> None:
    keys = RecentKeys[str](timedelta(0))
    keys.put("digest", "account", T0, epoch=keys.epoch)
    assert keys.get("digest", T0) is None


@pytest.mark.parametrize("seconds", [5.001, 6, 60])
def test_a_ttl_past_the_five_second_promise_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="at most 5 s"):
        RecentKeys[str](timedelta(seconds=seconds))


def test_the_memory_is_bounded() -> None:
    keys = RecentKeys[int](TTL, limit=3)
    for i in range(10):
        keys.put(f"d{i}", i, T0, epoch=keys.epoch)
    remembered = [i for i in range(10) if keys.get(f"d{i}", T0) is not None]
    assert len(remembered) <= 3
    assert 9 in remembered  # the newest is always kept


def test_expired_entries_make_room_first() -> None:
    keys = RecentKeys[int](TTL, limit=2)
    keys.put("old", 0, T0, epoch=keys.epoch)
    keys.put("fresh", 1, T0 + timedelta(seconds=1.5), epoch=keys.epoch)
    keys.put("new", 2, T0 + timedelta(seconds=2.5), epoch=keys.epoch)
    now = T0 + timedelta(seconds=2.5)
    assert (keys.get("fresh", now), keys.get("new", now)) == (1, 2)


def test_exactly_five_seconds_is_allowed() -> None:
    keys = RecentKeys[str](timedelta(seconds=5))  # the setting's maximum (le=5)
    keys.put("digest", "account", T0, epoch=keys.epoch)
    assert keys.get("digest", T0 + timedelta(seconds=4.999)) == "account"


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_the_memory_never_holds_more_than_its_limit(limit: int) -> None:
    keys = RecentKeys[int](TTL, limit=limit)
    for i in range(limit * 2 + 1):
        keys.put(f"d{i}", i, T0, epoch=keys.epoch)
        held = sum(keys.get(f"d{j}", T0) is not None for j in range(i + 1))
        assert 1 <= held <= limit


def test_the_default_limit_is_ten_thousand() -> None:
    keys = RecentKeys[int](TTL)
    for i in range(10_001):
        keys.put(f"d{i}", i, T0, epoch=keys.epoch)
    assert sum(keys.get(f"d{i}", T0) is not None for i in range(10_001)) <= 10_000


def test_entries_seen_this_instant_survive_making_room() -> None:
    keys = RecentKeys[str](TTL, limit=3)
    keys.put("old", "0", T0 - timedelta(seconds=3), epoch=keys.epoch)  # expired by T0
    keys.put("a", "1", T0, epoch=keys.epoch)
    keys.put("b", "2", T0, epoch=keys.epoch)
    keys.put("c", "3", T0, epoch=keys.epoch)  # full: the expired one makes room
    assert [keys.get(k, T0) for k in ("a", "b", "c")] == ["1", "2", "3"]


def test_an_entry_expiring_this_instant_makes_room() -> None:
    keys = RecentKeys[str](TTL, limit=2)
    keys.put("x", "1", T0, epoch=keys.epoch)
    keys.put("y", "2", T0 + timedelta(seconds=1), epoch=keys.epoch)
    keys.put("z", "3", T0 + TTL, epoch=keys.epoch)  # x expires exactly now: it goes, y stays
    now = T0 + TTL
    assert [keys.get(k, now) for k in ("y", "z")] == ["2", "3"]


def test_a_stale_read_is_refused_after_each_of_several_revocations() -> None:
    keys = RecentKeys[str](TTL)
    keys.forget_all()
    epoch = keys.epoch  # read between two revocations …
    keys.forget_all()
    keys.put("digest", "account", T0, epoch=epoch)  # … arrives after the second
    assert keys.get("digest", T0) is None
