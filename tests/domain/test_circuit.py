from __future__ import annotations

import pytest

from dlrhub.domain.circuit import CircuitBreaker, CircuitState


def breaker() -> CircuitBreaker:
    return CircuitBreaker(threshold=3, base_cooldown_s=10, max_cooldown_s=30)


def test_stays_closed_below_threshold() -> None:
    b = breaker()
    b.record("w", False, 0)
    b.record("w", False, 1)
    assert b.state("w", 2) is CircuitState.CLOSED
    assert b.concurrency("w", 2, normal=32) == 32


def test_success_resets_the_streak() -> None:
    b = breaker()
    for now in (0, 1):
        b.record("w", False, now)
    b.record("w", True, 2)
    b.record("w", False, 3)
    b.record("w", False, 4)
    assert b.state("w", 5) is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("at", "state", "concurrency"),
    [
        (2.0, CircuitState.OPEN, 0),
        (11.9, CircuitState.OPEN, 0),
        (12.0, CircuitState.HALF_OPEN, 1),
        (100.0, CircuitState.HALF_OPEN, 1),
    ],
)
def test_opens_then_half_opens_after_cooldown(
    at: float, state: CircuitState, concurrency: int
) -> None:
    b = breaker()
    for now in (0, 1, 2):
        b.record("w", False, now)
    assert b.state("w", at) is state
    assert b.concurrency("w", at, normal=32) == concurrency


def test_failed_probe_doubles_cooldown_up_to_max() -> None:
    b = breaker()
    for now in (0, 1, 2):
        b.record("w", False, now)  # open at 2, cooldown 10
    b.record("w", False, 12)  # probe fails: open at 12, cooldown 20
    assert b.state("w", 31) is CircuitState.OPEN
    assert b.state("w", 32) is CircuitState.HALF_OPEN
    b.record("w", False, 32)  # cooldown 40 → capped at 30
    assert b.state("w", 61) is CircuitState.OPEN
    assert b.state("w", 62) is CircuitState.HALF_OPEN


def test_stragglers_failing_while_open_do_not_extend_it() -> None:
    b = breaker()
    for now in (0, 1, 2):
        b.record("w", False, now)
    b.record("w", False, 5)  # an attempt that was already in flight
    assert b.state("w", 12) is CircuitState.HALF_OPEN


def test_successful_probe_closes() -> None:
    b = breaker()
    for now in (0, 1, 2):
        b.record("w", False, now)
    b.record("w", True, 12)
    assert b.state("w", 12) is CircuitState.CLOSED
    assert b.open_keys(12) == set()


def test_keys_are_independent() -> None:
    b = breaker()
    for now in (0, 1, 2):
        b.record("bad", False, now)
    assert b.open_keys(3) == {"bad"}
    assert b.state("good", 3) is CircuitState.CLOSED
    assert b.not_closed(3) == 1


def test_the_defaults_five_failures_five_seconds_five_minutes() -> None:
    breaker = CircuitBreaker()
    for _ in range(4):
        breaker.record("w", False, 0)
    assert breaker.state("w", 0) is CircuitState.CLOSED
    breaker.record("w", False, 0)
    assert breaker.state("w", 4.99) is CircuitState.OPEN
    assert breaker.state("w", 5.0) is CircuitState.HALF_OPEN
    now = 5.0
    for _ in range(10):  # failed probes double the cooldown, up to 300 s
        breaker.record("w", False, now)
        now += 1_000
    breaker.record("w", False, now)
    assert breaker.state("w", now + 299.99) is CircuitState.OPEN
    assert breaker.state("w", now + 300) is CircuitState.HALF_OPEN


def test_a_success_for_a_webhook_never_seen_is_fine() -> None:
    breaker = CircuitBreaker(threshold=1)
    breaker.record("new", True, 0)
    assert breaker.state("new", 0) is CircuitState.CLOSED
