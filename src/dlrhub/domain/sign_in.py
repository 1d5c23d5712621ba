"""How many failed dashboard sign-ins one client address may make (SPEC §14).

A fixed window per address: it opens at the address's first failure and lasts `period_s`;
within it, once `limit` failures are counted, further attempts are refused without checking
the key until the window ends. A success does not reset the count: a guesser that also holds
one valid key must not be able to launder its failures through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PERIOD_S = 60.0


@dataclass(frozen=True)
class FailureWindow:
    """The failures of one address counted since `opened_at` (monotonic seconds)."""

    opened_at: float
    failures: int


def is_open(window: FailureWindow | None, now: float, period_s: float = PERIOD_S) -> bool:
    return window is not None and now - window.opened_at < period_s


def retry_after(
    window: FailureWindow | None, now: float, limit: int, period_s: float = PERIOD_S
) -> int | None:
    """Whole seconds to wait before the next attempt, or None if an attempt may be made now."""
    if window is None or not is_open(window, now, period_s) or window.failures < limit:
        return None
    return max(1, math.ceil(window.opened_at + period_s - now))


def after_failure(
    window: FailureWindow | None, now: float, period_s: float = PERIOD_S
) -> FailureWindow:
    """The window once one more failure is counted at `now`."""
    if window is None or not is_open(window, now, period_s):
        return FailureWindow(opened_at=now, failures=1)
    return FailureWindow(opened_at=window.opened_at, failures=window.failures + 1)
