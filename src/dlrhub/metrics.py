"""Prometheus metrics of one process: what its dispatcher did, and the shared queue's depth."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from dlrhub.domain.delivery_state import ATTEMPT_OUTCOMES

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "dlrhub_delivery_attempts",
            "Delivery attempts made by this process, by what they led to.",
            ["outcome"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "dlrhub_delivery_attempt_seconds",
            "Duration of one delivery attempt (request to response or error).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "dlrhub_deliveries_in_flight",
            "Delivery attempts this process is making right now.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "dlrhub_queue_depth",
            "Deliveries waiting in the shared queue, by state (read at scrape time).",
            ["state"],
            registry=self.registry,
        )
        self.open_circuits = Gauge(
            "dlrhub_open_circuits",
            "Webhooks this process has paused because every recent attempt failed.",
            registry=self.registry,
        )
        for outcome in ATTEMPT_OUTCOMES:
            self.deliveries.labels(outcome.value)

    def render(self, queue: dict[str, int]) -> bytes:
        for state, count in queue.items():
            self.queue_depth.labels(state).set(count)
        return generate_latest(self.registry)
