"""Handing new deliveries straight to this process's dispatcher (issue 10).

A status change queues its deliveries in the transaction that makes it. Left to the queue,
they wait for the dispatcher's next claim: another write transaction, a read of what it
claimed, and on SQLite a turn at the one writer lock. When the change is made by a process
that runs a dispatcher (the simulator, or carrier reports in `serve`), the deliveries are
instead inserted already leased to that dispatcher, and handed to it once the transaction
has committed, with everything an attempt needs.

Nothing is lost to this shortcut: the rows are in the queue as always, only leased. If the
process dies before they are attempted, the lease runs out and any worker claims them, as
it would a delivery whose worker died mid-attempt. The dispatcher only accepts what it
would have claimed itself (room in its buffer, the webhook not paused nor at its cap):
everything else is queued unleased for whichever worker gets to it first.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    def accepts(self, webhook_id: str) -> bool:
        """Whether it would take one more delivery for this webhook now."""
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

    def accepts(self, webhook_id: str) -> bool:
        return self.taker.accepts(webhook_id)

    def hand_over(self) -> None:
        """After the commit: give the taker what this transaction leased to it."""
        if self.jobs:
            self.taker.take(self.jobs)
            self.jobs = []
