"""The WhatsApp Cloud API in our words (SPEC §11.3; issue 12): what its answers to a send mean,
and what its notifications say. Pure: the connector and the ingest do the I/O.

Meta's answers are branched on the error `code`, not on the HTTP status: sources disagree on
whether a throughput limit comes as 400 or 429.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dlrhub.domain.status import MessageStatus
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.domain.text import text_problem

__all__ = [
    "InboundMessage",
    "Notification",
    "StatusUpdate",
    "error_text",
    "read_notification",
    "signature_matches",
    "submit_answer",
]

# Error codes that mean "not now" (temporary downtime, throughput, pair rate, app call limit,
# generic, spam and marketing limits that lift later); everything else Meta refuses is
# refused for good.
TRY_LATER_CODES = frozenset({2, 4, 80007, 130429, 131000, 131048, 131049, 131056})
# Our token expired or was revoked (AuthException 0, OAuthException 190): the operator
# fixes it and the messages wait.
TOKEN_CODES = frozenset({0, 190})

# Meta's statuses → ours. `sent` (handed to WhatsApp) is what SENT already says: no event.
STATUSES: dict[str, MessageStatus | None] = {
    "sent": None,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.ERROR,
}


def submit_answer(http_status: int, error_code: int | None) -> SubmitAnswer:
    """A send's answer as one of the three outcomes (SPEC §11)."""
    if 200 <= http_status < 300:
        return SubmitAnswer.ACCEPTED
    if error_code in TRY_LATER_CODES or http_status == 429 or http_status >= 500:
        return SubmitAnswer.TRY_LATER
    if http_status in (401, 403) and (error_code is None or error_code in TOKEN_CODES):
        return SubmitAnswer.TRY_LATER
    return SubmitAnswer.REFUSED


def error_text(error: object, http_status: int) -> str:
    """A Meta error object (`{"message", "code", "error_data": {"details"}}`) as a message's
    `error`; whatever else came back is described by its HTTP status."""
    if isinstance(error, Mapping):
        code = error.get("code")
        message = str(error.get("message") or error.get("title") or "").strip()
        data = error.get("error_data")
        details = str(data.get("details") or "").strip() if isinstance(data, Mapping) else ""
        text = ": ".join(dict.fromkeys(part for part in (message, details) if part))
        return f"WhatsApp error {code}: {text or 'no message'}"[:500]
    return f"WhatsApp answered HTTP {http_status}"


def signature_matches(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`, compared in
    constant time; a missing or malformed header never matches."""
    if not header or not app_secret:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme != "sha256" or not given:
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("ascii", "replace"))


@dataclass(frozen=True)
class StatusUpdate:
    wamid: str
    status: MessageStatus | None  # None: `sent`, or a status we do not know
    known: bool
    error: str | None


@dataclass(frozen=True)
class InboundMessage:
    phone_number_id: str  # the business number's id at Meta
    source: str  # the user's number, E.164
    message_type: str  # TEXT, IMAGE, …
    text: str


@dataclass(frozen=True)
class Notification:
    statuses: tuple[StatusUpdate, ...]
    messages: tuple[InboundMessage, ...]


def read_notification(body: object) -> Notification:
    """What one notification says. Tolerant: parts that are not what Meta documents (other
    `field`s, missing ids) are skipped, never an error Meta would retry for seven days."""
    statuses: list[StatusUpdate] = []
    messages: list[InboundMessage] = []
    for value in _values(body):
        metadata = value.get("metadata")
        number_id = str(metadata.get("phone_number_id", "")) if isinstance(metadata, dict) else ""
        for status in _dicts(value.get("statuses")):
            update = _status(status)
            if update is not None:
                statuses.append(update)
        for message in _dicts(value.get("messages")):
            inbound = _message(number_id, message)
            if inbound is not None:
                messages.append(inbound)
    return Notification(tuple(statuses), tuple(messages))


def _values(body: object) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    return [
        change["value"]
        for entry in _dicts(body.get("entry"))
        for change in _dicts(entry.get("changes"))
        if change.get("field") == "messages" and isinstance(change.get("value"), dict)
    ]


def _dicts(items: object) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _status(status: dict[str, Any]) -> StatusUpdate | None:
    wamid = status.get("id")
    if not isinstance(wamid, str) or not wamid.strip() or text_problem(wamid) is not None:
        return None
    name = str(status.get("status", "")).lower()
    ours = STATUSES.get(name)
    error = None
    if ours is MessageStatus.ERROR:
        errors = _dicts(status.get("errors"))
        error = error_text(errors[0], 200) if errors else "WhatsApp: failed"
    return StatusUpdate(wamid.strip(), ours, name in STATUSES, error)


def _message(number_id: str, message: dict[str, Any]) -> InboundMessage | None:
    source = str(message.get("from", "")).strip()
    kind = str(message.get("type", "")).strip().lower()
    if not number_id or not source or not kind:
        return None
    text_part = message.get("text")
    if kind == "text" and isinstance(text_part, dict):
        text = str(text_part.get("body", ""))
    else:
        # Media and others carry at most a caption; the type is what the customer needs.
        detail = message.get(kind)
        caption = detail.get("caption") if isinstance(detail, dict) else None
        text = str(caption) if caption else kind
    number = source if source.startswith("+") else f"+{source}"
    return InboundMessage(number_id, number, kind.upper(), text)
