"""The rules a send request must satisfy (SPEC §2), gathered so every problem is reported."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from dlrhub.domain.customer_ids import check_customer_message_id, check_sender
from dlrhub.domain.errors import DlrhubError, FieldError, InvalidInput
from dlrhub.domain.gsm import MAX_SMS_PARTS, segment
from dlrhub.domain.phone import require_e164
from dlrhub.domain.receipt_timeouts import check_validity
from dlrhub.domain.simulation import SimulationOptions, check_simulation
from dlrhub.domain.status import Channel
from dlrhub.domain.text import text_problem

# WhatsApp's own limit for a text body; RCS agents accept at least as much.
MAX_RICH_BODY_CHARS = 4096


@dataclass(frozen=True)
class SendFields:
    channel: Channel
    destination: str
    body: str
    sender: str | None = None
    phone_number_id: str | None = None
    simulation: bool = False
    enable_notification: bool = True
    # Issue 13: the receipt timeout of this message (seconds), and `"simulation": {...}`.
    validity_period: int | None = None
    simulation_options: SimulationOptions | None = None


def check_send(fields: SendFields, customer_message_id: str | None) -> int:
    """Validate a send request; returns its number of parts or raises with every problem."""
    problems: list[FieldError] = []
    checks: list[Callable[[], object]] = [
        lambda: require_e164(fields.destination, "destination"),
        lambda: fields.sender is None or check_sender(fields.sender, "sender"),
        lambda: (
            fields.phone_number_id is None or require_e164(fields.phone_number_id, "phoneNumberId")
        ),
        lambda: customer_message_id is None or check_customer_message_id(customer_message_id),
    ]
    for check in checks:
        try:
            check()
        except DlrhubError as exc:
            problems.extend(exc.errors)
    parts = _body_parts(fields, problems)
    if (problem := check_validity(fields.validity_period)) is not None:
        problems.append(problem)
    if fields.simulation_options is not None:
        problems.extend(check_simulation(fields.simulation_options, fields.channel))
    if problems:
        detail = "; ".join(f"{p.field} {p.message}" for p in problems)
        raise InvalidInput(detail, errors=problems)
    return parts


def _body_parts(fields: SendFields, problems: list[FieldError]) -> int:
    if not fields.body:
        problems.append(FieldError("body", "must not be empty"))
        return 0
    if "\x00" in fields.body:
        # No carrier carries it, and PostgreSQL cannot store it in text.
        problems.append(FieldError("body", "must not contain NUL characters"))
        return 0
    if fields.channel is not Channel.SMS:
        if len(fields.body) > MAX_RICH_BODY_CHARS:
            problems.append(FieldError("body", f"must be at most {MAX_RICH_BODY_CHARS} characters"))
        return 1
    segmentation = segment(fields.body)
    if segmentation.parts > MAX_SMS_PARTS:
        problems.append(
            FieldError(
                "body",
                f"needs {segmentation.parts} {segmentation.encoding} parts; "
                f"at most {MAX_SMS_PARTS} are allowed",
            )
        )
    return segmentation.parts


def request_fingerprint(fields: SendFields) -> str:
    """Identifies what was asked; an idempotent retry must ask for exactly the same."""
    # vars(), not asdict(): the fields are flat values, and asdict deep-copies each of them
    # (a tenth of a send's CPU, measured); the JSON is the same.
    asked = dict(vars(fields))
    # Left out when not given, so a message stored before they existed keeps its fingerprint.
    for name in ("validity_period", "simulation_options"):
        if asked[name] is None:
            del asked[name]
    if fields.simulation_options is not None:
        asked["simulation_options"] = fields.simulation_options.to_json()
    canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


MAX_INBOUND_TEXT = 4096


def check_inbound(source: str, destination: str, text: str) -> None:
    """An inbound (MO) message: E.164 sender and business number, and some text."""
    problems: list[FieldError] = []
    for value, field in ((source, "source"), (destination, "destination")):
        try:
            require_e164(value, field)
        except InvalidInput as exc:
            problems.extend(exc.errors)
    if not text or len(text) > MAX_INBOUND_TEXT:
        problems.append(FieldError("text", f"must be 1 to {MAX_INBOUND_TEXT} characters"))
    elif (problem := text_problem(text)) is not None:
        problems.append(FieldError("text", problem))
    if problems:
        raise InvalidInput("; ".join(f"{p.field} {p.message}" for p in problems), errors=problems)
