"""What the handlers (api/, dashboard/) may call: the services, and nothing under them.

The wiring's `Hub` (wiring/hub.py) builds them and satisfies this protocol; handlers are
typed against it, so they can reach a service but not the database, the wake-ups or the
HTTP clients the hub also holds (DESIGN.md: handlers parse, call a service, render).
"""

from __future__ import annotations

from typing import Protocol

from dlrhub.domain.clock import Clock
from dlrhub.services.accounts import AccountService
from dlrhub.services.alerts import AlertsService
from dlrhub.services.carrier import CarrierReports
from dlrhub.services.deliveries import DeliveryLog
from dlrhub.services.delivery_status_webhooks import DeliveryStatusWebhooks
from dlrhub.services.event_feed import EventFeed
from dlrhub.services.messaging import MessagingService
from dlrhub.services.operations import Operations
from dlrhub.services.overview import Overview
from dlrhub.services.provider_ingest import RbmIngest, WhatsAppIngest
from dlrhub.services.richer_webhooks import RicherWebhooks
from dlrhub.services.sessions import DashboardSessions, SignInLimiter


class Services(Protocol):
    @property
    def clock(self) -> Clock: ...
    @property
    def accounts(self) -> AccountService: ...
    @property
    def messaging(self) -> MessagingService: ...
    @property
    def delivery_status(self) -> DeliveryStatusWebhooks: ...
    @property
    def richer_webhooks(self) -> RicherWebhooks: ...
    @property
    def deliveries(self) -> DeliveryLog: ...
    @property
    def carrier(self) -> CarrierReports: ...
    @property
    def operations(self) -> Operations: ...
    @property
    def overview(self) -> Overview: ...
    @property
    def sessions(self) -> DashboardSessions: ...
    @property
    def sign_ins(self) -> SignInLimiter: ...
    @property
    def whatsapp_ingest(self) -> WhatsAppIngest: ...
    @property
    def rbm_ingest(self) -> RbmIngest: ...
    @property
    def alerts(self) -> AlertsService: ...
    @property
    def event_feed(self) -> EventFeed: ...
