"""What carriers report, in their words, mapped to ours (SPEC §11)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.status import MessageStatus

# SMPP delivery-receipt `stat:` values. None: an intermediate state that produces no event.
SMPP_STATES: dict[str, MessageStatus | None] = {
    "DELIVRD": MessageStatus.DELIVERED,
    "UNDELIV": MessageStatus.ERROR,
    "REJECTD": MessageStatus.ERROR,
    "DELETED": MessageStatus.ERROR,
    "UNKNOWN": MessageStatus.ERROR,
    "EXPIRED": MessageStatus.EXPIRED,
    "ENROUTE": None,
    "ACCEPTD": None,
}

REPORTABLE = frozenset(
    {MessageStatus.DELIVERED, MessageStatus.ERROR, MessageStatus.EXPIRED, MessageStatus.READ}
)

# Keys are single words ("stat", "err") or two ("submit date", "done date"); a value runs
# up to the next key. `text:` is last and may contain anything.
_RECEIPT_FIELD = re.compile(
    r"(id|sub|dlvrd|submit date|done date|stat|err|text):(.*?)(?=\s+(?:id|sub|dlvrd|submit date"
    r"|done date|stat|err|text):|$)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class CarrierOutcome:
    status: MessageStatus | None
    error: str | None


def parse_receipt(receipt: str) -> dict[str, str]:
    """The fields of an SMPP receipt text, keys lower-cased."""
    return {key.lower(): value.strip() for key, value in _RECEIPT_FIELD.findall(receipt.strip())}


def outcome_of_receipt(receipt: str) -> CarrierOutcome:
    fields = parse_receipt(receipt)
    stat = fields.get("stat", "").upper()
    if stat not in SMPP_STATES:
        raise InvalidInput(
            f"receipt has no known stat (got {stat or 'none'!r})",
            errors=[FieldError("receipt", f"stat must be one of {', '.join(SMPP_STATES)}")],
        )
    status = SMPP_STATES[stat]
    err = fields.get("err", "")
    error = None
    if status is MessageStatus.ERROR or status is MessageStatus.EXPIRED:
        error = f"carrier: {stat}" + (f" (err {err})" if err and err.strip("0") else "")
    return CarrierOutcome(status, error)


def outcome_of_status(status: str, error: str | None) -> CarrierOutcome:
    try:
        parsed = MessageStatus(status.upper())
    except ValueError:
        parsed = None
    if parsed not in REPORTABLE:
        allowed = ", ".join(sorted(s.value for s in REPORTABLE))
        raise InvalidInput(
            f"status must be one of {allowed}",
            errors=[FieldError("status", f"must be one of {allowed}")],
        )
    return CarrierOutcome(parsed, error)


def outcome_of_report(
    *, status: str | None, receipt: str | None, error: str | None
) -> CarrierOutcome:
    """What a carrier's DLR report says: exactly one of a status in our words or an SMPP
    receipt text; InvalidInput for both or neither."""
    if receipt is not None and status is None:
        return outcome_of_receipt(receipt)
    if status is not None and receipt is None:
        return outcome_of_status(status, error)
    raise InvalidInput(
        "give exactly one of status and receipt",
        errors=[FieldError("status", "give exactly one of status and receipt")],
    )


def parse_tokens(text: str) -> dict[str, str]:
    """`name:token,name2:token2` → {token: name}. Raises ValueError on a malformed entry."""
    tokens: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, token = entry.partition(":")
        if not sep or not name.strip() or len(token.strip()) < 8:
            raise ValueError(f"carrier token entry {entry!r} is not name:token (token ≥ 8 chars)")
        tokens[token.strip()] = name.strip()
    return tokens
