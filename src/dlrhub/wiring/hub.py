"""The hub of one process: every service, wired together once from one Settings object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dlrhub.config import Settings
from dlrhub.domain.clock import Clock
from dlrhub.domain.limits import TestLimits
from dlrhub.outbound.client import ClientConfig
from dlrhub.outbound.pool import SharedClient
from dlrhub.services.accounts import AccountService
from dlrhub.services.alerts import AlertsService
from dlrhub.services.carrier import CarrierReports
from dlrhub.services.carrier_receipts import CarrierReceipts
from dlrhub.services.deliveries import DeliveryLog
from dlrhub.services.delivery_status_webhooks import DeliveryStatusWebhooks
from dlrhub.services.event_feed import EventFeed
from dlrhub.services.messaging import MessagingService
from dlrhub.services.operations import Operations
from dlrhub.services.overview import Overview
from dlrhub.services.provider_ingest import RbmIngest, WhatsAppIngest
from dlrhub.services.richer_webhooks import RicherWebhooks, TestGate
from dlrhub.services.sessions import DashboardSessions, SignInLimiter
from dlrhub.services.submissions import Submissions
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals


def utcnow() -> datetime:
    """The real clock, which the wiring passes to every part (tests pass their own)."""
    return datetime.now(UTC)


@dataclass
class Hub:
    """Satisfies `services.catalog.Services`, the part of it handlers may use."""

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
    richer_webhooks: RicherWebhooks
    deliveries: DeliveryLog
    overview: Overview
    # Dashboard sessions (in the database) and this process's count of failed sign-ins.
    sessions: DashboardSessions
    sign_ins: SignInLimiter
    # The connectors' side (SPEC §11): the durable submission queue, and reports that name
    # messages by the carrier's id.
    submissions: Submissions
    receipts: CarrierReceipts
    # What Meta and Google post (SPEC §11.3, §11.4).
    whatsapp_ingest: WhatsAppIngest
    rbm_ingest: RbmIngest
    # The alerts URL and the banners on failing webhooks (docs/alerts.md).
    alerts: AlertsService
    # Catch-up (docs/catch-up.md): the events feed, and its sequencer that workers run.
    event_feed: EventFeed

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None, clock: Clock = utcnow) -> Hub:
        db = db or Database.from_url(settings.database_url)
        signals = Signals()
        test_http = SharedClient(client_config(settings, settings.test_pool_size))
        messaging = MessagingService(
            db,
            signals,
            clock,
            simulator_delay=timedelta(milliseconds=settings.simulator_delay_ms),
            carrier_channels=settings.carrier_channels,
            receipt_timeout_s=settings.receipt_timeout_s,
        )
        accounts = AccountService(db, clock, key_cache=timedelta(seconds=settings.api_key_cache_s))
        carrier = CarrierReports(db, signals, clock, settings.carrier_tokens, messaging)
        receipts = CarrierReceipts(db, signals, clock)
        return cls(
            settings=settings,
            db=db,
            signals=signals,
            clock=clock,
            accounts=accounts,
            messaging=messaging,
            delivery_status=DeliveryStatusWebhooks(db, clock, settings.url_policy),
            carrier=carrier,
            operations=Operations(db, signals, clock),
            http=SharedClient(client_config(settings, settings.max_in_flight)),
            test_http=test_http,
            richer_webhooks=RicherWebhooks(
                db,
                clock,
                settings.url_policy,
                test_http,
                max_webhooks=settings.max_webhooks_per_account,
                tests=TestGate(limits_on_tests(settings)),
            ),
            deliveries=DeliveryLog(db, signals, clock),
            overview=Overview(db),
            sessions=DashboardSessions(db, clock, accounts),
            sign_ins=SignInLimiter(settings.sign_in_failures_per_minute),
            submissions=Submissions(
                db,
                signals,
                clock,
                give_up_after=timedelta(seconds=settings.submit_give_up_s),
                receipt_timeout_s=settings.receipt_timeout_s,
            ),
            receipts=receipts,
            whatsapp_ingest=WhatsAppIngest(
                receipts,
                carrier,
                app_secret=settings.whatsapp_app_secret,
                verify_token=settings.whatsapp_verify_token,
            ),
            rbm_ingest=RbmIngest(receipts, carrier, client_token=settings.rbm_client_token),
            alerts=AlertsService(
                db,
                clock,
                settings.url_policy,
                disable_after=timedelta(seconds=settings.disable_after_s),
            ),
            event_feed=EventFeed(db, signals, clock, poll_interval_s=settings.poll_interval_s),
        )


def client_config(settings: Settings, max_connections: int) -> ClientConfig:
    """A pool of the one HTTP client. The deliveries' pool has `max_in_flight` connections and
    nothing else uses it, so an attempt never waits for one (an attempt gives its connection
    back before its in-flight slot is freed). "Test webhook" calls have their own small pool
    (`test_pool_size`): customers fire them at any endpoint, including one that never answers,
    and in the dispatcher's pool they held connections other accounts' deliveries waited for
    (outbound/pool.py)."""
    return ClientConfig(
        policy=settings.url_policy,
        timeout_s=settings.delivery_timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
        ca_bundle=settings.ca_bundle,
        max_connections=max_connections,
    )


def limits_on_tests(settings: Settings) -> TestLimits:
    """The per-account limits on "test webhook" calls (SPEC §14)."""
    return TestLimits(
        rate_per_minute=settings.test_rate_per_minute,
        concurrency=settings.test_concurrency_per_account,
        attempt_timeout_s=settings.delivery_timeout_s,
    )
