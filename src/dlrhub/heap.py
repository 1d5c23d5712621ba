"""The garbage collector, tuned for dlrhub's long-running processes (serve, api, worker)."""

from __future__ import annotations

import gc

# Allocations between young-generation collections (CPython's default: 700). A delivery
# allocates a few hundred objects that live for one HTTP round trip; collecting every 700
# allocations promotes in-flight requests to the older generations, which fills them with
# objects that die soon after and makes full collections frequent.
YOUNG_THRESHOLD = 20_000


def settle_after_startup() -> None:
    """Take what start-up built out of the collector's sight, and collect less often.

    After imports, the app and its caches, a process holds a few hundred thousand objects
    that live as long as it does. Every full collection walked all of them: measured under a
    delivery backlog, one took ~85 ms, ran several times a second and stalled the event loop
    (and every request in flight) for ~20 % of the time. Frozen, they are never walked again;
    a full collection then costs what the live work costs.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
