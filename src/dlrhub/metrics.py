"""Prometheus metrics of one process: what its dispatcher did, and the shared queue's depth."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from dlrhub.domain.delivery_state import ATTEMPT_OUTCOMES
from dlrhub.domain.receipt_timeouts import LogOutcome

# Carrier reports by what they did (applied, ignored, late: after the message's receipt
# timeout), counted by this process's one report path (services/report_history.py). Process-
# wide, since every path that applies reports shares it; each Metrics registry exposes it.
CARRIER_REPORTS = Counter(
    "dlrhub_carrier_reports",
    "Carrier reports on messages, by outcome (applied, ignored, late: after a receipt timeout).",
    ["outcome"],
    registry=None,
)
for _outcome in LogOutcome:
    CARRIER_REPORTS.labels(_outcome.value)

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
        self.registry.register(CARRIER_REPORTS)
        self.smpp = SmppMetrics(self.registry)
        self.providers = ProviderMetrics(self.registry)

    def render(self, queue: dict[str, int]) -> bytes:
        for state, count in queue.items():
            self.queue_depth.labels(state).set(count)
        return generate_latest(self.registry)


RECEIPT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 86400.0)


class SmppMetrics:
    """The SMPP connector's metrics (SPEC §11.2), by bind (`system_id@host:port`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sessions = Gauge(
            "dlrhub_smpp_sessions",
            "SMPP sessions this process holds, by bind and state (bound, connecting).",
            ["bind", "state"],
            registry=registry,
        )
        self.submits = Counter(
            "dlrhub_smpp_submits",
            "submit_sm answers, by bind and result (accepted, refused, try_later, no_session).",
            ["bind", "result"],
            registry=registry,
        )
        self.receipts = Counter(
            "dlrhub_smpp_receipts",
            "Delivery receipts received, by bind and state (DELIVERED, ERROR, EXPIRED, "
            "intermediate, unreadable).",
            ["bind", "state"],
            registry=registry,
        )
        self.unmatched = Counter(
            "dlrhub_smpp_unmatched_receipts",
            "Receipts naming no message submitted (yet): acknowledged, kept a while, logged.",
            ["bind"],
            registry=registry,
        )
        self.inbound = Counter(
            "dlrhub_smpp_inbound",
            "Mobile-originated deliver_sm, by bind and whether a number took it (taken, unknown).",
            ["bind", "result"],
            registry=registry,
        )
        self.submit_to_receipt = Histogram(
            "dlrhub_smpp_submit_to_receipt_seconds",
            "From a part's acceptance to its final receipt (parts submitted by this process).",
            ["bind"],
            buckets=RECEIPT_BUCKETS,
            registry=registry,
        )


class ProviderMetrics:
    """What Meta's and Google's notifications brought (SPEC §11.3, §11.4), by provider."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "dlrhub_provider_notifications",
            "Notifications accepted (signature checked) from WhatsApp and RBM.",
            ["provider"],
            registry=registry,
        )
        self.statuses = Counter(
            "dlrhub_provider_statuses",
            "Statuses in them, by outcome (applied, ignored, unmatched, other event, …).",
            ["provider", "outcome"],
            registry=registry,
        )
        self.replies = Counter(
            "dlrhub_provider_replies",
            "Replies in them, by result (taken, unknown: no registered number, refused).",
            ["provider", "result"],
            registry=registry,
        )

    def record(
        self, provider: str, statuses: Mapping[str, int], replies: Mapping[str, int]
    ) -> None:
        self.notifications.labels(provider).inc()
        for outcome, count in statuses.items():
            self.statuses.labels(provider, outcome).inc(count)
        for result, count in replies.items():
            self.replies.labels(provider, result).inc(count)
