"""Handing new deliveries straight to this process's dispatcher (issue 10).

A status change queues its deliveries in the transaction that makes it. Left to the queue,
they wait for the dispatcher's next claim: another write transaction, a read of what it
claimed, and on SQLite a turn at the one writer lock. When the change is made by a process
that runs a dispatcher (the simulator, or carrier reports in `serve`), the deliveries are
instead inserted already leased to that dispatcher, and handed to it once the transaction
has committed, with everything an attempt needs.

Nothing is lost to this shortcut: the rows are in the queue as always, only leased. If the
process dies before they are attempted, the lease runs out and any worker claims them, as
it would a delivery whose worker died mid-attempt. The dispatcher only takes what it would
have claimed itself (as many as its buffer has room for, and per webhook as many as that
webhook's cap leaves, none for a paused one): the rest is queued unleased for whichever
worker gets to it first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from dlrhub.store.records import DeliveryJob


class DeliveryTaker(Protocol):
    """A dispatcher that takes deliveries handed to it (delivery/dispatcher.py)."""

    @property
    def worker_id(self) -> str: ...

    @property
    def lease(self) -> timedelta: ...

    def room(self) -> int:
        """How many more deliveries it would take now, in all."""
        ...

    def room_for(self, webhook_id: str) -> int:
        """How many more of this webhook's deliveries it would take now (0: paused, at its
        cap, or stopping)."""
        ...

    def take(self, jobs: Sequence[DeliveryJob]) -> None:
        """Deliveries leased to it by a transaction that has committed."""
        ...


@dataclass
class Handover:
    """One transaction's hand-over: the lease its deliveries get, and the jobs to hand to
    the taker once (and only if) the transaction commits."""

    taker: DeliveryTaker
    lease_until: datetime
    jobs: list[DeliveryJob] = field(default_factory=list)

    @classmethod
    def to(cls, taker: DeliveryTaker, now: datetime) -> Handover:
        return cls(taker=taker, lease_until=now + taker.lease)

    def allot(self, wanted: Mapping[str, int]) -> dict[str, int]:
        """Of `wanted` deliveries per webhook, how many the taker takes per webhook: each
        webhook's room, within the room in all."""
        budget = self.taker.room()
        allotted: dict[str, int] = {}
        for webhook_id, count in wanted.items():
            share = min(count, self.taker.room_for(webhook_id), budget)
            if share > 0:
                allotted[webhook_id] = share
                budget -= share
        return allotted

    def hand_over(self) -> None:
        """After the commit: give the taker what this transaction leased to it."""
        if self.jobs:
            self.taker.take(self.jobs)
            self.jobs = []
