"""What flows over one SMPP bind: a message's parts out, receipts and replies in (SPEC §11.2).

`SmppTraffic` is per bind (its `receipt_ids`, TON/NPI settings) and shared by that bind's
sessions in this process. Everything that comes in is committed before the session answers
`deliver_sm_resp`: a handler that raises leaves the receipt unacknowledged (the session NAKs it
and the SMSC sends it again), so a crash loses no receipt.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass

import structlog

from dlrhub.carriers.smpp_session import Incoming, SessionClosed, SmppSession, SubmitPart
from dlrhub.domain.errors import DlrhubError
from dlrhub.domain.gsm import decode_short_message, encode
from dlrhub.domain.smpp_binds import SmppBind, destination_address, source_address
from dlrhub.domain.smpp_receipts import read_receipt, receipt_id_keys, stored_id_key
from dlrhub.domain.submission import SubmitAnswer, smpp_answer, smpp_status_text
from dlrhub.metrics import SmppMetrics
from dlrhub.services.carrier import CarrierReports
from dlrhub.services.carrier_receipts import CarrierReceipts, PartReport, ReceiptOutcome
from dlrhub.services.submissions import AcceptedPart, Submissions, SubmitOutcome
from dlrhub.store.submissions import Submission

log = structlog.get_logger(__name__)

_UDHI = 0x40  # esm_class: short_message starts with a user data header
_SUBMIT_TIMES_KEPT = 100_000  # parts whose acceptance time this process remembers


@dataclass(frozen=True)
class TrafficServices:
    submissions: Submissions
    receipts: CarrierReceipts
    carrier: CarrierReports


class SmppTraffic:
    def __init__(
        self,
        bind: SmppBind,
        services: TrafficServices,
        metrics: SmppMetrics,
        *,
        default_sender: str | None,
    ) -> None:
        self.bind = bind
        self.services = services
        self._metrics = metrics
        self._default_sender = default_sender
        # What this process did on this bind, published with the session slot for `dlrhub
        # carriers` (Prometheus has the same by label).
        self.counters: Counter[str] = Counter()
        # Carrier key → when its part was accepted, for submit-to-receipt latency.
        self._accepted_at: OrderedDict[str, float] = OrderedDict()

    async def submit_message(self, session: SmppSession, submission: Submission) -> None:
        """Submit the parts of a claimed message not yet accepted, and record the outcome."""
        answer, reason, accepted, result = await self._submit_parts(session, submission)
        outcome = SubmitOutcome(submission, answer, reason, tuple(accepted))
        decision = await self.services.submissions.record(outcome)
        self._count("submits", result)
        self._metrics.submits.labels(self.bind.name, result).inc()
        if decision.answer is SubmitAnswer.REFUSED:
            log.info("message refused", message_id=submission.message.id, error=decision.error)

    async def _submit_parts(
        self, session: SmppSession, submission: Submission
    ) -> tuple[SubmitAnswer, str, list[AcceptedPart], str]:
        """(answer, reason, parts accepted, the result the metrics count it under)."""
        message = submission.message
        sender = message.sender or self._default_sender
        if not sender:
            reason = "no sender: the message has none and DLRHUB_SMPP_DEFAULT_SENDER is unset"
            return SubmitAnswer.REFUSED, reason, [], "refused"
        # The same reference on every try: parts resent after a crash still join up.
        encoded = encode(message.body, zlib.crc32(message.id.encode()) & 0xFF)
        done = (
            await self.services.submissions.accepted_parts(message.id) if submission.tries else {}
        )
        source, source_ton, source_npi = source_address(sender, self.bind)
        destination, dest_ton, dest_npi = destination_address(message.destination, self.bind)
        accepted: list[AcceptedPart] = []
        for index, data in enumerate(encoded.parts):
            if index in done:
                continue
            part = SubmitPart(
                source_addr=source,
                source_ton=source_ton,
                source_npi=source_npi,
                destination_addr=destination,
                dest_ton=dest_ton,
                dest_npi=dest_npi,
                esm_class=_UDHI if len(encoded.parts) > 1 else 0,
                data_coding=encoded.data_coding,
                short_message=data,
            )
            try:
                result = await session.submit(part)
            except SessionClosed as exc:
                return SubmitAnswer.TRY_LATER, f"no SMPP session ({exc})", accepted, "no_session"
            answer = smpp_answer(result.command_status)
            if answer is not SubmitAnswer.ACCEPTED:
                reason = smpp_status_text(result.command_status)
                return answer, reason, accepted, answer.name.lower()
            key = stored_id_key(result.message_id)
            accepted.append(AcceptedPart(index, result.message_id, key))
            self._remember_acceptance(key)
        return SubmitAnswer.ACCEPTED, "", accepted, "accepted"

    def _remember_acceptance(self, key: str) -> None:
        self._accepted_at[key] = time.monotonic()
        while len(self._accepted_at) > _SUBMIT_TIMES_KEPT:
            self._accepted_at.popitem(last=False)

    async def on_deliver(self, incoming: Incoming) -> None:
        """A `deliver_sm`: returns once what it says is committed (then it is acknowledged)."""
        if incoming.is_receipt:
            await self._receipt(incoming)
        else:
            await self._reply(incoming)

    async def _receipt(self, incoming: Incoming) -> None:
        text = decode_short_message(
            incoming.short_message, data_coding=incoming.data_coding, esm_class=incoming.esm_class
        )
        receipt = read_receipt(
            text,
            receipted_message_id=incoming.receipted_message_id,
            message_state=incoming.message_state,
        )
        if receipt is None:
            log.warning("receipt names no message; acknowledged", bind=self.bind.name, text=text)
            self._unmatched()
            return
        keys = receipt_id_keys(
            receipt.carrier_id, in_text=receipt.id_in_text, mode=self.bind.receipt_ids
        )
        status = receipt.status if receipt.known else None
        outcome = await self.services.receipts.report(PartReport(keys, status, receipt.error))
        state = status.value if status else ("intermediate" if receipt.known else "unreadable")
        self._count("receipts", state)
        self._metrics.receipts.labels(self.bind.name, state).inc()
        if outcome is ReceiptOutcome.UNMATCHED:
            log.warning(
                "receipt for an id no message has (yet); kept",
                bind=self.bind.name,
                id=receipt.carrier_id,
            )
            self._unmatched()
        elif outcome is ReceiptOutcome.APPLIED and status is not None:
            self._observe_latency(keys)

    def _observe_latency(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            accepted_at = self._accepted_at.pop(key, None)
            if accepted_at is not None:
                elapsed = time.monotonic() - accepted_at
                self._metrics.submit_to_receipt.labels(self.bind.name).observe(elapsed)
                return

    def _unmatched(self) -> None:
        self._count("receipts", "unmatched")
        self._metrics.unmatched.labels(self.bind.name).inc()

    async def _reply(self, incoming: Incoming) -> None:
        text = decode_short_message(
            incoming.short_message, data_coding=incoming.data_coding, esm_class=incoming.esm_class
        )
        source = _international(incoming.source_addr)
        destination = _international(incoming.destination_addr)
        try:
            event_id = await self.services.carrier.sms_reply(
                source=source, destination=destination, text=text
            )
        except DlrhubError as exc:  # not a reply we can store (a bad number, NUL in the text)
            log.warning("SMS reply refused; acknowledged", bind=self.bind.name, error=str(exc))
            event_id = None
        result = "unknown" if event_id is None else "taken"
        if event_id is None:
            log.info("SMS reply to no registered number; acknowledged", destination=destination)
        self._count("inbound", result)
        self._metrics.inbound.labels(self.bind.name, result).inc()

    def _count(self, kind: str, result: str) -> None:
        self.counters[f"{kind}_{result}"] += 1


def _international(address: str) -> str:
    """An SMPP address as E.164 when it is digits (SMSCs write numbers without the `+`)."""
    digits = address.strip()
    return f"+{digits}" if digits.isascii() and digits.isdigit() else digits
