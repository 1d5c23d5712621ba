"""What Meta and Google post to dlrhub (SPEC §11.3, §11.4): checked, then applied through the
one report path.

Both retry anything but a 200 for days, on one queue per partner: a notification is answered
as soon as what it says is committed, and what cannot be used (unknown ids, other event
types, replies to no registered number) is acknowledged and counted, never refused. Only a
missing or wrong signature is refused (401): those did not come from the provider.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field

import structlog

from dlrhub.domain import rbm, whatsapp
from dlrhub.domain.errors import DlrhubError, Forbidden, InvalidInput, Unauthorized
from dlrhub.services.carrier import CarrierReports
from dlrhub.services.carrier_receipts import CarrierReceipts, PartReport, ReceiptOutcome

log = structlog.get_logger(__name__)


@dataclass
class IngestResult:
    """What one notification came to, for the metrics: counts by what happened."""

    statuses: Counter[str] = field(default_factory=Counter)  # applied, ignored, unmatched
    replies: Counter[str] = field(default_factory=Counter)  # taken, unknown, refused


class WhatsAppIngest:
    def __init__(
        self,
        receipts: CarrierReceipts,
        carrier: CarrierReports,
        *,
        app_secret: str | None,
        verify_token: str | None,
    ) -> None:
        self._receipts = receipts
        self._carrier = carrier
        self._app_secret = app_secret
        self._verify_token = verify_token

    def verify_subscription(self, mode: str | None, token: str | None, challenge: str) -> str:
        """Meta's verification request: the challenge back when the token is ours."""
        expected = self._verify_token
        if (
            mode != "subscribe"
            or not expected
            or token is None
            or not hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace"))
        ):
            raise Forbidden("hub.verify_token does not match DLRHUB_WHATSAPP_VERIFY_TOKEN")
        return challenge

    async def notify(self, raw_body: bytes, signature: str | None) -> IngestResult:
        if not self._app_secret:
            raise Unauthorized("DLRHUB_WHATSAPP_APP_SECRET is not set: nothing can be verified")
        if not whatsapp.signature_matches(self._app_secret, raw_body, signature):
            raise Unauthorized("X-Hub-Signature-256 is missing or does not match the body")
        notification = whatsapp.read_notification(_json_body(raw_body))
        result = IngestResult()
        reports = [
            PartReport((update.wamid,), update.status, update.error)
            for update in notification.statuses
            if update.known
        ]
        result.statuses["unknown status"] += len(notification.statuses) - len(reports)
        # Reports of one notification are submitted together: the group commit writes them in
        # one transaction (or a few), in order, whatever their number.
        for outcome in await asyncio.gather(*(self._receipts.report(r) for r in reports)):
            result.statuses[outcome.value] += 1
        for message in notification.messages:
            taken = await _reply(
                self._carrier.whatsapp_reply(
                    source=message.source,
                    meta_phone_number_id=message.phone_number_id,
                    text=message.text,
                    message_type=message.message_type,
                )
            )
            result.replies[taken] += 1
        _log_unmatched("whatsapp", result)
        return result


class RbmIngest:
    def __init__(
        self, receipts: CarrierReceipts, carrier: CarrierReports, *, client_token: str | None
    ) -> None:
        self._receipts = receipts
        self._carrier = carrier
        self._client_token = client_token

    def verification_secret(self, body: object) -> str | None:
        """Google's webhook verification (`{"clientToken", "secret"}`): the secret to answer
        when the token is ours; None when the body is not a verification request."""
        if not isinstance(body, dict) or "secret" not in body or "message" in body:
            return None
        token, secret = body.get("clientToken"), body.get("secret")
        expected = self._client_token or ""
        if not isinstance(token, str) or not isinstance(secret, str) or not expected:
            raise Forbidden("clientToken does not match DLRHUB_RBM_CLIENT_TOKEN")
        if not hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace")):
            raise Forbidden("clientToken does not match DLRHUB_RBM_CLIENT_TOKEN")
        return secret

    async def event(self, body: object, signature: str | None) -> IngestResult:
        message = body.get("message") if isinstance(body, dict) else None
        data = rbm.decode_data(message.get("data") if isinstance(message, dict) else None)
        if data is None:
            raise InvalidInput('expected {"message": {"data": <base64>}} or a verification')
        if not self._client_token or not rbm.signature_matches(self._client_token, data, signature):
            raise Unauthorized("X-Goog-Signature is missing or does not match message.data")
        event = rbm.decode_event(data)
        result = IngestResult()
        if event is None or event.kind is rbm.EventKind.OTHER:
            result.statuses["other event"] += 1
        elif event.kind is rbm.EventKind.STATUS:
            outcome = await self._receipts.report(PartReport((event.message_id,), event.status))
            result.statuses[outcome.value] += 1
        else:
            taken = await _reply(
                self._carrier.rcs_reply(
                    source=event.source, text=event.text, message_type=event.message_type
                )
            )
            result.replies[taken] += 1
        _log_unmatched("rbm", result)
        return result


def _json_body(raw_body: bytes) -> object:
    try:
        return json.loads(raw_body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the parser's depth
        raise InvalidInput("the body is not JSON") from None


async def _reply(reply: Awaitable[str | None]) -> str:
    """`taken`, `unknown` (no registered number) or `refused` (not a reply we can store)."""
    try:
        event_id = await reply
    except DlrhubError as exc:
        log.warning("reply refused; acknowledged", error=str(exc))
        return "refused"
    return "unknown" if event_id is None else "taken"


def _log_unmatched(provider: str, result: IngestResult) -> None:
    unmatched = result.statuses[ReceiptOutcome.UNMATCHED.value]
    if unmatched:
        log.warning(
            "statuses for ids no message has (yet); kept", provider=provider, count=unmatched
        )
    if result.replies["unknown"]:
        log.info("replies to no registered number; acknowledged", provider=provider)
