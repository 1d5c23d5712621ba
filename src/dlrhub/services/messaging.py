"""Sending messages, polling their status, and replies (inbound) from recipients."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.clock import Clock
from dlrhub.domain.errors import Conflict, FieldError, InvalidInput, NotFound, Unprocessable
from dlrhub.domain.receipt_timeouts import DEFAULT_RECEIPT_TIMEOUT_S, receipt_deadline
from dlrhub.domain.row_ids import new_id
from dlrhub.domain.sending import SendFields, check_inbound, check_send, request_fingerprint
from dlrhub.domain.simulation import simulation_steps
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.services.group_commit import GroupCommit
from dlrhub.services.report_history import MessageReports, history
from dlrhub.services.status_changes import record_inbound
from dlrhub.store import accounts as account_store
from dlrhub.store import carrier_ids
from dlrhub.store import messages as store
from dlrhub.store import submissions as submission_store
from dlrhub.store.database import Database
from dlrhub.store.errors import Duplicate
from dlrhub.store.records import MessageRecord
from dlrhub.store.signals import Signals

MAX_POLL_IDS = 100

# The settings that configure each channel's connector (SPEC §11, §13).
CONNECTOR_SETTINGS = {
    Channel.SMS: "DLRHUB_SMPP_BINDS",
    Channel.WHATSAPP: "DLRHUB_WHATSAPP_TOKEN and DLRHUB_WHATSAPP_APP_SECRET",
    Channel.RCS: "DLRHUB_RBM_AGENT_ID, DLRHUB_RBM_CREDENTIALS and DLRHUB_RBM_CLIENT_TOKEN",
}


def _could_exist(customer_message_id: str) -> bool:
    """Whether a message could have this id: one with a NUL is never stored (messageId refuses
    control characters), and asking PostgreSQL for it would be an error, not a miss."""
    return "\x00" not in customer_message_id


def _not_your_number() -> InvalidInput:
    problem = "must be one of your business numbers (GET /whatsapp/numbers)"
    return InvalidInput(f"phoneNumberId {problem}", errors=[FieldError("phoneNumberId", problem)])


async def store_sends(
    conn: AsyncConnection, sends: list[store.NewMessage]
) -> list[MessageRecord | Exception]:
    """Store a batch of sends in the caller's transaction, with the checks each send needs:
    the stored message, or the exception that refuses it (the others are stored regardless).

    A WhatsApp message leaves from one of the account's own business numbers (SPEC §2):
    sending from another account's number would speak in its name. A messageId already
    used by the account (before, or earlier in this batch) is `Duplicate`.
    """
    records = [send.record for send in sends]
    owners = await account_store.waba_owners(
        conn,
        [r.phone_number_id for r in records if r.channel is Channel.WHATSAPP and r.phone_number_id],
    )
    # Only a messageId the client chose can be taken: the others are this send's new row id.
    taken = await store.taken_customer_ids(
        conn,
        [(r.account_id, r.customer_message_id) for r in records if r.customer_message_id != r.id],
    )
    results: list[MessageRecord | Exception] = []
    accepted: list[store.NewMessage] = []
    for send, record in zip(sends, records, strict=True):
        number = record.phone_number_id
        foreign = number is not None and owners.get(number) != record.account_id
        if record.channel is Channel.WHATSAPP and foreign:
            results.append(_not_your_number())
            continue
        if (record.account_id, record.customer_message_id) in taken:
            results.append(Duplicate("messageId already used"))
            continue
        taken.add((record.account_id, record.customer_message_id))
        accepted.append(send)
        results.append(record)
    await store.insert_messages(conn, accepted)
    # A real message waits for its carrier in the durable queue, written with it (SPEC §11).
    real = [send.record for send in accepted if not send.record.simulation]
    if real:
        await submission_store.queue(
            conn, [(r.id, r.channel) for r in real], min(r.sent_at for r in real)
        )
    return results


@dataclass(frozen=True)
class SendResult:
    message: MessageRecord
    created: bool


@dataclass(frozen=True)
class PartState:
    """One part of a multi-part SMS the carrier accepted (SPEC §11.2 `parts`). `status` is
    SENT ("accepted and handed to the carrier", §3) until the part's final receipt."""

    index: int  # 0-based, in the order §2 splits the body
    status: MessageStatus
    carrier_message_id: str


@dataclass(frozen=True)
class PolledMessage:
    """A message as polling shows it. `parts`: None unless it is a real multi-part SMS;
    then the parts accepted so far (empty while none is)."""

    message: MessageRecord
    parts: list[PartState] | None = None


@dataclass(frozen=True)
class StatusBatch:
    messages: list[MessageRecord]
    not_found: list[str]
    # Message id -> its parts, for the real multi-part SMS among `messages` only.
    parts: dict[str, list[PartState]] = field(default_factory=dict)


def _has_parts_view(message: MessageRecord) -> bool:
    """Whether polling shows the message's parts: a real SMS sent in more than one part."""
    return message.channel is Channel.SMS and not message.simulation and message.total_parts > 1


async def _parts_view(
    conn: AsyncConnection, messages: Sequence[MessageRecord]
) -> dict[str, list[PartState]]:
    """The accepted parts of those `messages` that show them, in one query (none at all
    when no message does: simulated and single-part messages cost nothing extra)."""
    shown = [m.id for m in messages if _has_parts_view(m)]
    if not shown:
        return {}
    stored = await carrier_ids.parts_of(conn, shown)
    return {
        message_id: [
            PartState(
                index=part.part_index,
                status=part.status or MessageStatus.SENT,
                carrier_message_id=part.carrier_message_id,
            )
            for part in stored.get(message_id, [])
        ]
        for message_id in shown
    }


class MessagingService:
    def __init__(
        self,
        db: Database,
        signals: Signals,
        clock: Clock,
        *,
        simulator_delay: timedelta,
        carrier_channels: frozenset[Channel] = frozenset(),
        receipt_timeout_s: int = DEFAULT_RECEIPT_TIMEOUT_S,
    ) -> None:
        self._db = db
        self._signals = signals
        self._clock = clock
        self._simulator_delay = simulator_delay
        # Concurrent sends share transactions: one each capped the API at a few hundred a
        # second, the writers taking turns (services/group_commit.py).
        self._sends = GroupCommit[store.NewMessage, MessageRecord](
            db, store_sends, after_commit=self._wake_simulator
        )
        # Channels with a real carrier connector configured (SPEC §11); a real message on
        # another channel is refused, naming the settings that would configure one.
        self._carrier_channels = carrier_channels
        # A simulated message's receipt deadline starts at its send (docs/receipt-timeouts.md).
        self._receipt_timeout_s = receipt_timeout_s

    async def send(
        self, account_id: str, fields: SendFields, customer_message_id: str | None
    ) -> SendResult:
        parts = check_send(fields, customer_message_id)
        if not fields.simulation and fields.channel not in self._carrier_channels:
            raise Unprocessable(
                f"no carrier connector is configured for {fields.channel.value} "
                f"(set {CONNECTOR_SETTINGS[fields.channel]}); "
                'send with "simulation": true to test without a carrier'
            )
        message_id = new_id()
        fingerprint = request_fingerprint(fields)
        now = self._clock()
        message = MessageRecord(
            id=message_id,
            account_id=account_id,
            customer_message_id=customer_message_id or message_id,
            channel=fields.channel,
            destination=fields.destination,
            sender=fields.sender,
            phone_number_id=fields.phone_number_id,
            body=fields.body,
            request_hash=fingerprint,
            simulation=fields.simulation,
            enable_notification=fields.enable_notification,
            total_parts=parts,
            status=MessageStatus.SENT,
            error=None,
            sent_at=now,
            delivered_at=None,
            read_at=None,
            updated_at=now,
        )
        try:
            stored = await self._sends.submit(self._new_message(message, fields))
        except Duplicate:
            if customer_message_id is None:
                raise
            return await self._replayed(account_id, customer_message_id, fingerprint)
        return SendResult(stored, created=True)

    def _new_message(self, message: MessageRecord, fields: SendFields) -> store.NewMessage:
        """A simulated message carries the simulator's first step (docs/simulation.md) and its
        receipt deadline, in the same row; a real one gets its deadline at the hand-over."""
        options = fields.simulation_options
        if not fields.simulation:
            return store.NewMessage(
                message, sim_next=None, sim_due_at=None, validity_s=fields.validity_period
            )
        steps = simulation_steps(fields.destination, fields.channel, options, self._simulator_delay)
        now = message.sent_at
        return store.NewMessage(
            message,
            sim_next="0" if steps else None,
            sim_due_at=now + steps[0].after if steps else None,
            sim_options=None if options is None else options.to_json(),
            validity_s=fields.validity_period,
            receipt_due_at=receipt_deadline(now, fields.validity_period, self._receipt_timeout_s),
        )

    def _wake_simulator(self, stored: list[MessageRecord]) -> None:
        if any(message.simulation for message in stored):
            self._signals.simulation_queued()
        real = {message.channel for message in stored if not message.simulation}
        if real:
            self._signals.submissions_queued(real)

    async def _replayed(
        self, account_id: str, customer_message_id: str, fingerprint: str
    ) -> SendResult:
        async with self._db.reading() as conn:
            existing = await store.by_customer_id(conn, account_id, customer_message_id)
        if existing is None:  # the conflicting row vanished: its account was deleted
            raise Conflict(f"messageId {customer_message_id!r} is being used concurrently")
        if existing.request_hash != fingerprint:
            raise Conflict(
                f"messageId {customer_message_id!r} was already used for a different message"
            )
        return SendResult(existing, created=False)

    async def status(
        self, account_id: str, customer_message_id: str, channel: Channel | None = None
    ) -> MessageRecord:
        return (await self.polled(account_id, customer_message_id, channel)).message

    async def polled(
        self, account_id: str, customer_message_id: str, channel: Channel | None = None
    ) -> PolledMessage:
        """The message and, for a real multi-part SMS, its parts (read together)."""
        message = None
        parts: dict[str, list[PartState]] = {}
        if _could_exist(customer_message_id):
            async with self._db.reading() as conn:
                message = await store.by_customer_id(conn, account_id, customer_message_id)
                if message is not None:
                    parts = await _parts_view(conn, [message])
        if message is None or (channel is not None and message.channel is not channel):
            raise NotFound(f"no message with customerMessageId {customer_message_id!r}")
        return PolledMessage(message, parts.get(message.id))

    async def report_history(self, account_id: str, customer_message_id: str) -> MessageReports:
        """The message and every carrier report on it, applied or not
        (docs/receipt-timeouts.md)."""
        async with self._db.reading() as conn:
            message = None
            if _could_exist(customer_message_id):
                message = await store.by_customer_id(conn, account_id, customer_message_id)
            if message is None:
                raise NotFound(f"no message with customerMessageId {customer_message_id!r}")
            return await history(conn, message)

    async def statuses(self, account_id: str, raw_ids: str) -> StatusBatch:
        ids = list(dict.fromkeys(part.strip() for part in raw_ids.split(",") if part.strip()))
        if not ids:
            raise InvalidInput(
                "give at least one id",
                errors=[FieldError("customerMessageIds", "must list at least one id")],
            )
        if len(ids) > MAX_POLL_IDS:
            raise InvalidInput(
                f"at most {MAX_POLL_IDS} ids per request, got {len(ids)}",
                errors=[FieldError("customerMessageIds", f"at most {MAX_POLL_IDS} ids")],
            )
        async with self._db.reading() as conn:
            found = await store.by_customer_ids(
                conn, account_id, [i for i in ids if _could_exist(i)]
            )
            parts = await _parts_view(conn, list(found.values()))
        return StatusBatch(
            messages=[found[i] for i in ids if i in found],
            not_found=[i for i in ids if i not in found],
            parts=parts,
        )

    async def receive_inbound(
        self,
        account_id: str,
        *,
        source: str,
        destination: str,
        channel: Channel,
        text: str,
        message_type: str = "TEXT",
    ) -> str:
        check_inbound(source, destination, text)
        now = self._clock()
        async with self._db.transaction() as conn:
            event_id, queued = await record_inbound(
                conn,
                account_id=account_id,
                source=source,
                destination=destination,
                channel=channel,
                text=text,
                occurred_at=now,
                now=now,
                message_type=message_type,
            )
        if queued:
            self._signals.deliveries_queued()
        return event_id
