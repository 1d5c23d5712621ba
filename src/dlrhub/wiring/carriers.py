"""The carrier connectors of a worker process, built from the settings (SPEC §11): SMPP for
SMS, the WhatsApp Cloud API and Google RBM; none when nothing is configured."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from dlrhub.carriers.early_receipts import EarlyReceiptSweeper
from dlrhub.carriers.http_submitter import HttpSubmitter, Send, SubmitterConfig
from dlrhub.carriers.rbm import RbmSender, RbmTokens
from dlrhub.carriers.smpp import SmppConfig, SmppConnector
from dlrhub.carriers.smpp_traffic import TrafficServices
from dlrhub.carriers.whatsapp import WhatsAppSender
from dlrhub.domain.status import Channel
from dlrhub.metrics import Metrics
from dlrhub.services.session_slots import SessionSlots
from dlrhub.wiring.hub import Hub


def carriers_of(hub: Hub, metrics: Metrics, worker_id: str) -> Carriers:
    """The real carriers' connectors configured (SPEC §11); none when nothing is set."""
    settings = hub.settings
    services = TrafficServices(hub.submissions, hub.receipts, hub.carrier)
    slots = SessionSlots(hub.db, hub.clock, lease=timedelta(seconds=settings.carrier_slot_lease_s))
    config = SmppConfig(
        binds=settings.smpp_binds,
        default_sender=settings.smpp_default_sender,
        enquire_link_s=settings.smpp_enquire_link_s,
        response_timeout_s=settings.smpp_response_timeout_s,
        submit_lease_s=settings.submit_lease_s,
        poll_interval_s=settings.poll_interval_s,
    )
    smpp = SmppConnector(config, services, slots, hub.signals, metrics.smpp, worker_id=worker_id)
    connectors: list[Connector] = [smpp] if settings.smpp_binds else []
    connectors += http_connectors(hub, worker_id)
    if connectors:  # reports may overtake acceptances on any of them
        sweeper = EarlyReceiptSweeper(hub.receipts, interval_s=settings.poll_interval_s)
        connectors.append(sweeper)
    return Carriers(connectors)


def http_connectors(hub: Hub, worker_id: str) -> list[HttpSubmitter]:
    """The WhatsApp Cloud API and RBM connectors, for the channels configured (SPEC §11)."""
    settings = hub.settings
    channels = settings.carrier_channels
    found: list[HttpSubmitter] = []
    if Channel.WHATSAPP in channels:
        assert settings.whatsapp_token is not None
        whatsapp = WhatsAppSender(
            api_url=settings.whatsapp_api_url,
            token=settings.whatsapp_token,
            accounts=hub.accounts,
        )
        found.append(_submitter(hub, Channel.WHATSAPP, "WhatsApp", whatsapp.send, worker_id))
    if Channel.RCS in channels:
        assert settings.rbm_credentials is not None
        assert settings.rbm_agent_id is not None
        rbm = RbmSender(
            api_url=settings.rbm_api_url,
            agent_id=settings.rbm_agent_id,
            tokens=RbmTokens(settings.rbm_credentials),
        )
        found.append(_submitter(hub, Channel.RCS, "RBM", rbm.send, worker_id))
    return found


def _submitter(hub: Hub, channel: Channel, name: str, send: Send, worker_id: str) -> HttpSubmitter:
    settings = hub.settings
    config = SubmitterConfig(
        channel=channel,
        name=name,
        concurrency=settings.carrier_http_concurrency,
        request_timeout_s=settings.carrier_http_timeout_s,
        lease_s=settings.submit_lease_s,
        poll_interval_s=settings.poll_interval_s,
    )
    return HttpSubmitter(config, send, hub.submissions, hub.signals, worker_id=worker_id)


class Connector(Protocol):
    async def run(self, stop: asyncio.Event) -> None: ...


class Carriers:
    """The connectors of a process, run together until the workers stop."""

    def __init__(self, connectors: Sequence[Connector]) -> None:
        self._connectors = list(connectors)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(connector.run(stop) for connector in self._connectors))
