"""The services of one process, wired together once by an entry point."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dlrhub.config import Settings
from dlrhub.delivery.shared import SharedClient
from dlrhub.services.accounts import AccountService
from dlrhub.services.carrier import CarrierReports
from dlrhub.services.custom_webhooks import CustomWebhooks
from dlrhub.services.deliveries import DeliveryLog
from dlrhub.services.messaging import MessagingService
from dlrhub.services.operations import Operations
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
    # The process's one HTTP client to customers' endpoints (dispatcher and webhook tests).
    http: SharedClient
    custom_webhooks: CustomWebhooks
    deliveries: DeliveryLog

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None, clock: Clock = utcnow) -> Hub:
        db = db or Database.from_url(settings.database_url)
        signals = Signals()
        http = SharedClient(settings)
        messaging = MessagingService(
            db, signals, clock, simulator_delay=timedelta(milliseconds=settings.simulator_delay_ms)
        )
        return cls(
            settings=settings,
            db=db,
            signals=signals,
            clock=clock,
            accounts=AccountService(db, clock),
            messaging=messaging,
            delivery_status=DeliveryStatusWebhooks(db, clock, settings.url_policy),
            carrier=CarrierReports(db, signals, clock, settings.carrier_tokens, messaging),
            operations=Operations(db, signals, clock),
            http=http,
            custom_webhooks=CustomWebhooks(db, clock, settings.url_policy, http),
            deliveries=DeliveryLog(db, signals, clock),
        )
