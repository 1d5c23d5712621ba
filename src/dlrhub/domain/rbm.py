"""Google RCS Business Messaging in our words (SPEC §11.4; issue 12): what its answers to a
send mean, how its events are signed, and what they say. Pure: the connector and the ingest
do the I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from dlrhub.domain.status import MessageStatus
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.domain.text import text_problem

__all__ = [
    "EventKind",
    "RbmEvent",
    "decode_event",
    "error_text",
    "signature_matches",
    "submit_answer",
]

SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"

# Event types → ours; the others (IS_TYPING, SUBSCRIBE, …) are acknowledged and dropped.
STATUSES = {"DELIVERED": MessageStatus.DELIVERED, "READ": MessageStatus.READ}


def submit_answer(http_status: int) -> SubmitAnswer:
    """An `agentMessages.create` answer as one of the three outcomes (SPEC §11.4): 404 (not
    RCS-capable, agent not launched there), 400 and 403 refuse for good; 429 and 5xx are tried
    again, and so is 401 (our token: the operator fixes it, the messages wait)."""
    if 200 <= http_status < 300:
        return SubmitAnswer.ACCEPTED
    if http_status in (401, 408, 429) or http_status >= 500:
        return SubmitAnswer.TRY_LATER
    return SubmitAnswer.REFUSED


def error_text(body: object, http_status: int) -> str:
    """Google's `{"error": {"code", "message", "status"}}` as a message's `error`."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        status = str(error.get("status") or http_status)
        message = str(error.get("message") or "").strip()
        return f"RBM {status}: {message or 'no message'}"[:500]
    return f"RBM answered HTTP {http_status}"


def signature_matches(client_token: str, decoded_data: bytes, header: str | None) -> bool:
    """`X-Goog-Signature`: base64 HMAC-SHA512 keyed by the client token over the **decoded**
    `message.data` bytes (not the HTTP body), compared in constant time."""
    if not header or not client_token:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(client_token.encode(), decoded_data, hashlib.sha512).digest()
    return hmac.compare_digest(expected, given)


class EventKind(Enum):
    STATUS = "status"  # DELIVERED or READ of a message we sent
    USER_MESSAGE = "user message"  # a user wrote to the agent
    OTHER = "other"  # IS_TYPING, SUBSCRIBE, …: acknowledged, nothing to do


@dataclass(frozen=True)
class RbmEvent:
    kind: EventKind
    message_id: str  # ours for a status, Google's for a user message
    status: MessageStatus | None
    source: str  # the user's number (senderPhoneNumber)
    message_type: str  # TEXT, LOCATION, USER_FILE, SUGGESTION_RESPONSE, …
    text: str
    event_type: str


def decode_data(data: object) -> bytes | None:
    """`message.data` (base64) as bytes; None when it is not base64."""
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_event(decoded: bytes) -> RbmEvent | None:
    """The event in `message.data`; None when it is not a JSON object."""
    try:
        event = json.loads(decoded)
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the decoder's limit
        return None
    if not isinstance(event, dict):
        return None
    sender = str(event.get("senderPhoneNumber") or "").strip()
    message_id = str(event.get("messageId") or "").strip()
    if text_problem(message_id) is not None:  # not an id we could have sent
        message_id = ""
    event_type = str(event.get("eventType") or "").strip().upper()
    if event_type:
        status = STATUSES.get(event_type)
        kind = EventKind.STATUS if status is not None and message_id else EventKind.OTHER
        return RbmEvent(kind, message_id, status, sender, "", "", event_type)
    message_type, text = _user_content(event)
    if message_type is None:
        return RbmEvent(EventKind.OTHER, message_id, None, sender, "", "", "")
    return RbmEvent(EventKind.USER_MESSAGE, message_id, None, sender, message_type, text, "")


def _user_content(event: Mapping[str, object]) -> tuple[str | None, str]:
    """(messageType, text) of a user message: its text, or the kind of thing it sent."""
    text = event.get("text")
    if isinstance(text, str) and text:
        return "TEXT", text
    for field, message_type in (
        ("suggestionResponse", "SUGGESTION_RESPONSE"),
        ("location", "LOCATION"),
        ("userFile", "USER_FILE"),
    ):
        value = event.get(field)
        if isinstance(value, Mapping):
            shown = value.get("text") or value.get("postbackData") or field
            return message_type, str(shown)
    return None, ""
