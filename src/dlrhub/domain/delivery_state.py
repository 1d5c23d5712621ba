"""Where a delivery (one event to one webhook) stands, and which states mean what (SPEC §9).

The values are what the database column, the API (`status` of a delivery) and the metrics
labels hold, so a member compares equal to its plain string.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ATTEMPT_OUTCOMES",
    "DELIVERY_STATES",
    "FINISHED",
    "REPLAYABLE",
    "SENDABLE",
    "DeliveryState",
    "sql_state_list",
]


class DeliveryState(StrEnum):
    # Declaration order is the order the API lists them in ("must be one of ...").
    PENDING = "pending"  # never tried yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # tried, will be tried again at its next_attempt_at
    DEAD = "dead"  # no retry left
    CANCELLED = "cancelled"  # its webhook was deleted before it was sent


DELIVERY_STATES: tuple[DeliveryState, ...] = tuple(DeliveryState)
# Still to be sent: what the dispatcher claims and the queue depth counts.
SENDABLE: tuple[DeliveryState, ...] = (DeliveryState.PENDING, DeliveryState.FAILED)
# What "recover" sends again: it gave up or is waiting to retry, but was tried.
REPLAYABLE: tuple[DeliveryState, ...] = (DeliveryState.FAILED, DeliveryState.DEAD)
# Nothing more will be sent: what retention may delete.
FINISHED: tuple[DeliveryState, ...] = tuple(s for s in DeliveryState if s not in SENDABLE)
# What one attempt can leave a delivery in.
ATTEMPT_OUTCOMES: tuple[DeliveryState, ...] = (
    DeliveryState.SUCCEEDED,
    DeliveryState.FAILED,
    DeliveryState.DEAD,
)


def sql_state_list(states: tuple[DeliveryState, ...]) -> str:
    """`('pending', 'failed')`: the states as a literal SQL list. Partial indexes and the
    queries that must match them are spelled with literals (a bound parameter would not
    match an index's predicate); the values are this module's own, never client input."""
    return "(" + ", ".join(f"'{state.value}'" for state in states) + ")"
