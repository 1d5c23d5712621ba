"""Reports from real carriers (HTTP DLR ingest, an SMPP bridge): the same path as the simulator."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from dlrhub.domain.carrier import CarrierOutcome
from dlrhub.domain.clock import Clock
from dlrhub.domain.errors import NotFound, Unauthorized
from dlrhub.domain.sending import check_inbound
from dlrhub.domain.status import Channel
from dlrhub.services.carrier_report_batcher import CarrierReportBatcher
from dlrhub.services.handover import DeliveryTaker
from dlrhub.services.messaging import MessagingService
from dlrhub.services.status_changes import CarrierReport, CarrierReportOutcome
from dlrhub.store import accounts as account_store
from dlrhub.store.database import Database
from dlrhub.store.signals import Signals


class CarrierReports:
    def __init__(
        self,
        db: Database,
        signals: Signals,
        clock: Clock,
        tokens: Mapping[str, str],
        messaging: MessagingService,
    ) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self._tokens = dict(tokens)
        self._messaging = messaging
        self._batcher = CarrierReportBatcher(db, signals, clock)

    def hand_deliveries_to(self, taker: DeliveryTaker) -> None:
        """The deliveries of reports applied here go straight to `taker`, this process's
        dispatcher, as many as it has room for (services/handover.py)."""
        self._batcher.taker = taker

    def authenticate(self, authorization: str | None) -> str:
        """The carrier's name for a `Bearer <token>` header."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("carrier reports need Authorization: Bearer <token>")
        for known, name in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                return name
        raise Unauthorized("unknown carrier token")

    async def report(self, message_id: str, outcome: CarrierOutcome) -> bool:
        """Apply a report; False when it changes nothing (intermediate, late or repeated)."""
        result = await self._batcher.submit(
            CarrierReport(message_id, outcome.status, outcome.error)
        )
        if result is CarrierReportOutcome.UNKNOWN:
            raise NotFound(f"no message {message_id!r}")
        return result is CarrierReportOutcome.APPLIED

    async def sms_reply(self, *, source: str, destination: str, text: str) -> str | None:
        """An SMS reply (MO) to a number registered for SMS becomes its account's INBOUND
        event; None when no account registered `destination` (SPEC §11.2)."""
        async with self._db.reading() as conn:
            account_id = await account_store.reply_owner(conn, Channel.SMS, destination)
        if account_id is None:
            return None
        return await self._messaging.receive_inbound(
            account_id, source=source, destination=destination, channel=Channel.SMS, text=text
        )

    async def whatsapp_reply(
        self, *, source: str, meta_phone_number_id: str, text: str, message_type: str
    ) -> str | None:
        """A WhatsApp message to the business number Meta knows by `meta_phone_number_id`
        becomes its account's INBOUND event; None when no account has that number (§11.3)."""
        async with self._db.reading() as conn:
            owner = await account_store.owner_of_meta_id(conn, meta_phone_number_id)
        if owner is None:
            return None
        account_id, number = owner
        return await self._messaging.receive_inbound(
            account_id,
            source=source,
            destination=number,
            channel=Channel.WHATSAPP,
            text=text,
            message_type=message_type,
        )

    async def rcs_reply(self, *, source: str, text: str, message_type: str) -> str | None:
        """A user's message to the RBM agent becomes an INBOUND event of the account that
        registered the agent's number; None when none did (SPEC §11.4)."""
        async with self._db.reading() as conn:
            numbers = await account_store.reply_numbers_of(conn, Channel.RCS)
        if not numbers:
            return None
        number, account_id = numbers[0]
        return await self._messaging.receive_inbound(
            account_id,
            source=source,
            destination=number,
            channel=Channel.RCS,
            text=text,
            message_type=message_type,
        )

    async def inbound(self, *, source: str, destination: str, channel: Channel, text: str) -> str:
        """A reply to one of an account's business numbers becomes that account's INBOUND."""
        check_inbound(source, destination, text)  # bad input is a 400 before any 404
        async with self._db.reading() as conn:
            account_id = await account_store.waba_owner(conn, destination)
        if account_id is None:
            raise NotFound(f"{destination} is not a business number of any account")
        return await self._messaging.receive_inbound(
            account_id, source=source, destination=destination, channel=channel, text=text
        )
