"""Claimed deliveries waiting for a free slot, queued per webhook and taken round-robin."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from dlrhub.store.records import DeliveryJob


class JobBuffer:
    def __init__(self) -> None:
        self._queues: OrderedDict[str, deque[DeliveryJob]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, jobs: Iterable[DeliveryJob]) -> None:
        for job in jobs:
            self._queues.setdefault(job.webhook.id, deque()).append(job)
            self._size += 1

    def held(self, webhook_id: str) -> int:
        queue = self._queues.get(webhook_id)
        return 0 if queue is None else len(queue)

    def webhooks(self) -> list[str]:
        return list(self._queues)

    def ids(self) -> list[str]:
        return [job.delivery_id for queue in self._queues.values() for job in queue]

    def take(self, slots_for: Callable[[str], int], limit: int) -> list[DeliveryJob]:
        """Up to `limit` jobs, at most `slots_for(webhook)` from each webhook, visiting the
        webhooks round-robin so that a big backlog cannot crowd out the others."""
        taken: list[DeliveryJob] = []
        for webhook_id in list(self._queues):
            if len(taken) >= limit:
                break
            queue = self._queues[webhook_id]
            for _ in range(min(slots_for(webhook_id), limit - len(taken), len(queue))):
                taken.append(queue.popleft())
            # The next call starts after this webhook.
            self._queues.move_to_end(webhook_id)
            if not queue:
                del self._queues[webhook_id]
        self._size -= len(taken)
        return taken

    def drop(self, webhook_id: str) -> list[DeliveryJob]:
        queue = self._queues.pop(webhook_id, deque())
        self._size -= len(queue)
        return list(queue)

    def drain(self) -> list[DeliveryJob]:
        jobs = [job for queue in self._queues.values() for job in queue]
        self._queues.clear()
        self._size = 0
        return jobs
