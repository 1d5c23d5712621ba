"""The services of one process, wired together once by an entry point."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dlrhub.config import Settings
from dlrhub.delivery.shared import SharedClient
from dlrhub.domain.limits import TestLimits
from dlrhub.services.accounts import AccountService
from dlrhub.services.carrier import CarrierReports
from dlrhub.services.custom_webhooks import CustomWebhooks, TestGate
from dlrhub.services.deliveries import DeliveryLog
from dlrhub.services.messaging import MessagingService
from dlrhub.services.operations import Operations
from dlrhub.services.sessions import DashboardSessions, SignInLimiter
from dlrhub.services.signals import Clock, Signals, utcnow
from dlrhub.services.webhooks import DeliveryStatusWebhooks
from dlrhub.store.database import Database


@dataclass
class Hub:
    settings: Settings
    db: Database
    signals: Signals
    clock: Clock
    accounts: AccountService
    messaging: MessagingService
    delivery_status: DeliveryStatusWebhooks
    carrier: CarrierReports
    operations: Operations
    # The process's HTTP clients to customers' endpoints: the dispatcher's, and a separate,
    # small one for "test webhook" calls (SPEC §14: tests never take a delivery's connection).
    http: SharedClient
    test_http: SharedClient
    custom_webhooks: CustomWebhooks
    deliveries: DeliveryLog
    # Dashboard sessions (in the database) and this process's count of failed sign-ins.
    sessions: DashboardSessions
    sign_ins: SignInLimiter

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None, clock: Clock = utcnow) -> Hub:
        db = db or Database.from_url(settings.database_url)
        signals = Signals()
        http = SharedClient(settings)
        test_http = SharedClient.for_tests(settings)
        messaging = MessagingService(
            db, signals, clock, simulator_delay=timedelta(milliseconds=settings.simulator_delay_ms)
        )
        accounts = AccountService(db, clock)
        return cls(
            settings=settings,
            db=db,
            signals=signals,
            clock=clock,
            accounts=accounts,
            messaging=messaging,
            delivery_status=DeliveryStatusWebhooks(db, clock, settings.url_policy),
            carrier=CarrierReports(db, signals, clock, settings.carrier_tokens, messaging),
            operations=Operations(db, signals, clock),
            http=http,
            test_http=test_http,
            custom_webhooks=CustomWebhooks(
                db,
                clock,
                settings.url_policy,
                test_http,
                max_webhooks=settings.max_webhooks_per_account,
                tests=TestGate(limits_on_tests(settings)),
            ),
            deliveries=DeliveryLog(db, signals, clock),
            sessions=DashboardSessions(db, clock, accounts),
            sign_ins=SignInLimiter(settings.sign_in_failures_per_minute),
        )


def limits_on_tests(settings: Settings) -> TestLimits:
    """The per-account limits on "test webhook" calls (SPEC §14)."""
    return TestLimits(
        rate_per_minute=settings.test_rate_per_minute,
        concurrency=settings.test_concurrency_per_account,
        attempt_timeout_s=settings.delivery_timeout_s,
    )
