"""Circuit breaking for webhooks: stop hammering an endpoint that fails every attempt.

closed → (threshold consecutive failures) → open for a cooldown → half-open: one probe at a
time → success closes it, failure re-opens it with a doubled cooldown (up to a maximum).
Time is passed in, so the rules are tested without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    cooldown: float = 0.0


class CircuitBreaker:
    def __init__(
        self, *, threshold: int = 5, base_cooldown_s: float = 5.0, max_cooldown_s: float = 300.0
    ) -> None:
        self._threshold = threshold
        self._base = base_cooldown_s
        self._max = max_cooldown_s
        self._circuits: dict[str, _Circuit] = {}

    def state(self, key: str, now: float) -> CircuitState:
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return CircuitState.CLOSED
        if now < circuit.opened_at + circuit.cooldown:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def concurrency(self, key: str, now: float, normal: int) -> int:
        """How many attempts may be in flight for `key` now: all, one probe, or none."""
        state = self.state(key, now)
        if state is CircuitState.OPEN:
            return 0
        return 1 if state is CircuitState.HALF_OPEN else normal

    def record(self, key: str, succeeded: bool, now: float) -> None:
        if succeeded:
            self._circuits.pop(key, None)
            return
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        if circuit.opened_at is not None:
            # A failed probe (or a straggler failing after the circuit opened): stay open.
            if now >= circuit.opened_at + circuit.cooldown:
                circuit.cooldown = min(circuit.cooldown * 2, self._max)
                circuit.opened_at = now
        elif circuit.failures >= self._threshold:
            circuit.opened_at = now
            circuit.cooldown = self._base

    def open_keys(self, now: float) -> set[str]:
        return {k for k in self._circuits if self.state(k, now) is CircuitState.OPEN}

    def not_closed(self, now: float) -> int:
        return sum(1 for k in self._circuits if self.state(k, now) is not CircuitState.CLOSED)
