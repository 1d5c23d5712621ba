from __future__ import annotations

import pytest

from dlrhub.domain.ramp import ConcurrencyRamp


def ramp(initial: int = 4, maximum: int = 64) -> ConcurrencyRamp:
    return ConcurrencyRamp(initial=initial, maximum=maximum, idle_reset_s=60)


def test_a_new_webhook_starts_small() -> None:
    assert ramp().allowed("w", 0) == 4


def test_the_start_never_exceeds_the_limit() -> None:
    r = ramp(initial=4, maximum=2)
    assert r.allowed("w", 0) == 2
    r.record("w", True, 0)
    assert r.allowed("w", 0) == 2


@pytest.mark.parametrize(
    ("outcomes", "allowed"),
    [
        ("", 4),
        ("s", 5),
        ("ssss", 8),
        ("s" * 60, 64),
        ("s" * 100, 64),  # capped at the per-webhook limit
        ("f", 4),  # never below the start
        ("ffff", 4),
        ("s" * 60 + "f", 32),  # a failure halves what was earned
        ("s" * 60 + "ff", 16),
        ("s" * 60 + "fs", 33),
    ],
)
def test_successes_earn_slots_and_failures_halve_them(outcomes: str, allowed: int) -> None:
    r = ramp()
    for outcome in outcomes:
        r.record("w", outcome == "s", 1.0)
    assert r.allowed("w", 1.0) == allowed


def test_webhooks_ramp_independently() -> None:
    r = ramp()
    for _ in range(10):
        r.record("fast", True, 0)
        r.record("hanging", False, 0)
    assert (r.allowed("fast", 0), r.allowed("hanging", 0)) == (14, 4)


@pytest.mark.parametrize(("idle", "allowed"), [(59.0, 14), (60.0, 14), (61.0, 4)])
def test_an_idle_webhook_starts_over(idle: float, allowed: int) -> None:
    r = ramp()
    for _ in range(10):
        r.record("w", True, 0)
    assert r.allowed("w", idle) == allowed
    r.record("w", True, idle)
    assert r.allowed("w", idle) == allowed + 1


def test_memory_follows_the_webhooks_in_use() -> None:
    r = ramp()
    for i in range(5_000):
        r.record(f"old-{i}", True, 0)
    for i in range(10_000):
        r.record("busy", True, 1_000 + i / 1_000)
    assert len(r) == 1


def test_halving_rounds_down() -> None:
    r = ramp(initial=1, maximum=8)
    for outcome in "ssf":  # 1 → 2 → 3, halved: 1 (not 1.5)
        r.record("w", outcome == "s", 0)
    assert r.allowed("w", 0) == 1
    assert isinstance(r.allowed("w", 0), int)


@pytest.mark.parametrize(("records", "kept"), [(9_999, 2), (10_000, 1)])
def test_idle_webhooks_are_forgotten_at_every_ten_thousandth_record(
    records: int, kept: int
) -> None:
    r = ramp()
    r.record("idle", True, 0)
    for i in range(records - 1):
        r.record("busy", True, 60 + i / 1_000_000)
    assert len(r) == kept


def test_a_webhook_idle_exactly_the_reset_time_is_kept() -> None:
    r = ramp()
    r.record("edge", True, 0)
    for _ in range(9_998):
        r.record("busy", True, 0)
    r.record("busy", True, 60)  # the 10 000th record: "edge" idle exactly 60 s
    assert len(r) == 2


def test_every_ten_thousand_records_after_the_first_prune_too() -> None:
    r = ramp()
    for _ in range(10_000):  # the first prune, at t=0: nothing idle
        r.record("busy", True, 0)
    r.record("idle", True, 0)
    for _ in range(9_998):  # records 10 002 … 19 999, a hundred seconds later
        r.record("busy", True, 100)
    assert len(r) == 2
    r.record("busy", True, 100)  # the 20 000th: "idle" has been idle 100 s
    assert len(r) == 1


def test_an_idle_minute_is_the_default_reset() -> None:
    r = ConcurrencyRamp(initial=4, maximum=64)
    r.record("w", True, 0)
    assert r.allowed("w", 59.9) == 5
    assert r.allowed("w", 60.1) == 4
