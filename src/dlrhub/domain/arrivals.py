"""What a receiver can check of the webhooks it gets (docs/ordering.md): each `webhook-id`
once, and each message's events in the order of their `sequence`. `dlrhub listen` uses it;
it is the check we recommend receivers make."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

__all__ = ["ArrivalCheck"]

T = TypeVar("T")


class ArrivalCheck:
    """Remembers the last `limit` webhook-ids and each message's highest sequence seen."""

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._highest: OrderedDict[str, int] = OrderedDict()

    def flags(self, webhook_id: str | None, message_id: str | None, sequence: object) -> list[str]:
        """What is odd about this arrival: `duplicate` (its webhook-id came before) and
        `out of order` (an event of the same message with a higher sequence came before)."""
        found: list[str] = []
        if webhook_id:
            if webhook_id in self._seen:
                found.append("duplicate")
            self._remember(self._seen, webhook_id, None)
        if isinstance(sequence, int) and not isinstance(sequence, bool) and message_id:
            highest = self._highest.get(message_id, 0)
            if sequence < highest and "duplicate" not in found:
                found.append(f"out of order (sequence {sequence} after {highest})")
            self._remember(self._highest, message_id, max(sequence, highest))
        return found

    def _remember(self, memory: OrderedDict[str, T], key: str, value: T) -> None:
        memory[key] = value
        memory.move_to_end(key)
        while len(memory) > self._limit:
            memory.popitem(last=False)
