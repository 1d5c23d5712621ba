"""Concurrency a webhook earns: slow start per endpoint.

A webhook starts with a few attempts in flight and gains one for every attempt that
succeeds, up to the per-webhook limit; a failure halves what it has earned (never below the
start). An endpoint that hangs therefore holds a few of the process's slots while its
attempts time out, not its whole per-webhook share, and a healthy one reaches full speed
within a few round trips (each success frees a slot and adds one: the window doubles every
round trip). A webhook idle for a while starts over, as TCP does after idle.
Time is passed in, so the rules are tested without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Window:
    size: int
    last_used: float


class ConcurrencyRamp:
    def __init__(self, *, initial: int, maximum: int, idle_reset_s: float = 60.0) -> None:
        self._maximum = maximum
        self._initial = min(initial, maximum)
        self._idle_reset_s = idle_reset_s
        self._windows: dict[str, _Window] = {}
        self._records_since_prune = 0

    def allowed(self, key: str, now: float) -> int:
        """How many attempts `key` may have in flight now."""
        window = self._live(key, now)
        return self._initial if window is None else window.size

    def record(self, key: str, succeeded: bool, now: float) -> None:
        window = self._live(key, now)
        if window is None:
            window = self._windows[key] = _Window(self._initial, now)
        if succeeded:
            window.size = min(window.size + 1, self._maximum)
        else:
            window.size = max(window.size // 2, self._initial)
        window.last_used = now
        self._records_since_prune += 1
        if self._records_since_prune >= 10_000:
            self._prune(now)

    def _live(self, key: str, now: float) -> _Window | None:
        window = self._windows.get(key)
        if window is None or now - window.last_used > self._idle_reset_s:
            return None
        return window

    def _prune(self, now: float) -> None:
        """Forget idle webhooks, so that memory follows the webhooks in use, not all ever seen."""
        self._records_since_prune = 0
        idle = [k for k, w in self._windows.items() if now - w.last_used > self._idle_reset_s]
        for key in idle:
            del self._windows[key]

    def __len__(self) -> int:
        return len(self._windows)
