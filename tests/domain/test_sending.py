"""The rules of a send request and of an inbound message (SPEC §2, §10), table-driven: every
problem named by its field, all at once, and the parts an SMS body needs."""

from __future__ import annotations

import hashlib
import json

import pytest

from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.sending import (
    MAX_INBOUND_TEXT,
    MAX_RICH_BODY_CHARS,
    SendFields,
    check_inbound,
    check_send,
    request_fingerprint,
)
from dlrhub.domain.status import Channel

GOOD = "+393401234567"
E164 = "must be an E.164 number such as +393401234567"


def _sms(body: str, **fields: object) -> SendFields:
    return SendFields(Channel.SMS, GOOD, body, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "parts"),
    [
        (_sms("hello"), 1),
        (_sms("x" * 160), 1),
        (_sms("x" * 161), 2),
        (_sms("x" * 1530), 10),  # the most a message may need
        (_sms("€" * 80), 1),  # an extension character is two septets
        (_sms("€" * 81), 2),
        (_sms("ж" * 70), 1),  # UCS-2
        (_sms("ж" * 71), 2),
        (_sms("ж" * 670), 10),
        (_sms("hi", sender="ACME", phone_number_id=None), 1),
        (SendFields(Channel.WHATSAPP, GOOD, "x" * MAX_RICH_BODY_CHARS), 1),
        (SendFields(Channel.RCS, GOOD, "ж" * MAX_RICH_BODY_CHARS), 1),
        (SendFields(Channel.WHATSAPP, GOOD, "hi", phone_number_id="+393409876543"), 1),
    ],
)
def test_a_valid_send_answers_its_parts(fields: SendFields, parts: int) -> None:
    assert check_send(fields, None) == parts
    assert check_send(fields, "order-1") == parts


@pytest.mark.parametrize(
    ("fields", "customer_id", "errors"),
    [
        (_sms(""), None, [("body", "must not be empty")]),
        (_sms("a\x00b"), None, [("body", "must not contain NUL characters")]),
        (_sms("x" * 1531), None, [("body", "needs 11 GSM-7 parts; at most 10 are allowed")]),
        (_sms("ж" * 671), None, [("body", "needs 11 UCS-2 parts; at most 10 are allowed")]),
        (
            SendFields(Channel.WHATSAPP, GOOD, "x" * (MAX_RICH_BODY_CHARS + 1)),
            None,
            [("body", "must be at most 4096 characters")],
        ),
        (
            SendFields(Channel.RCS, GOOD, "a\x00"),
            None,
            [("body", "must not contain NUL characters")],
        ),
        (SendFields(Channel.SMS, "0039340", "hi"), None, [("destination", E164)]),
        (_sms("hi", sender="+0"), None, [("sender", E164)]),
        (
            SendFields(Channel.WHATSAPP, GOOD, "hi", phone_number_id="12"),
            None,
            [("phoneNumberId", E164)],
        ),
        (_sms("hi"), "", [("messageId", "must not be empty")]),
        (_sms("hi"), "a,b", [("messageId", "must not contain a comma")]),
        # Every problem at once, in the order of the fields.
        (
            SendFields(Channel.WHATSAPP, "12", "", "+0", "34"),
            "x" * 65,
            [
                ("destination", E164),
                ("sender", E164),
                ("phoneNumberId", E164),
                ("messageId", "must be at most 64 characters"),
                ("body", "must not be empty"),
            ],
        ),
    ],
)
def test_an_invalid_send_names_every_problem(
    fields: SendFields, customer_id: str | None, errors: list[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_send(fields, customer_id)
    assert [(e.field, e.message) for e in raised.value.errors] == errors
    assert raised.value.detail == "; ".join(f"{field} {message}" for field, message in errors)


@pytest.mark.parametrize(
    ("source", "destination", "text", "errors"),
    [
        (GOOD, "+393409876543", "yes", []),
        (GOOD, "+393409876543", "y", []),
        (GOOD, "+393409876543", "x" * MAX_INBOUND_TEXT, []),
        (GOOD, "+393409876543", "", [("text", "must be 1 to 4096 characters")]),
        (GOOD, GOOD, "x" * (MAX_INBOUND_TEXT + 1), [("text", "must be 1 to 4096 characters")]),
        ("3934", GOOD, "hi", [("source", E164)]),
        (GOOD, "+", "hi", [("destination", E164)]),
        (
            "a",
            "b",
            "",
            [("source", E164), ("destination", E164), ("text", "must be 1 to 4096 characters")],
        ),
    ],
)
def test_inbound_rules(
    source: str, destination: str, text: str, errors: list[tuple[str, str]]
) -> None:
    if not errors:
        check_inbound(source, destination, text)
        return
    with pytest.raises(InvalidInput) as raised:
        check_inbound(source, destination, text)
    assert [(e.field, e.message) for e in raised.value.errors] == errors
    assert raised.value.detail == "; ".join(f"{field} {message}" for field, message in errors)


def test_the_limits() -> None:
    assert (MAX_RICH_BODY_CHARS, MAX_INBOUND_TEXT) == (4096, 4096)


BASE = SendFields(Channel.SMS, GOOD, "hello", "ACME", None, True, False)


def test_the_fingerprint_is_stable_across_versions() -> None:
    """Fingerprints are stored: an idempotent retry after an upgrade must match the one kept
    before it, so the canonical form (sorted keys, no spaces, UTF-8) is fixed."""
    canonical = (
        '{"body":"hello","channel":"SMS","destination":"+393401234567",'
        '"enable_notification":false,"phone_number_id":null,"sender":"ACME","simulation":true}'
    )
    assert json.loads(canonical)["channel"] == "SMS"
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert request_fingerprint(BASE) == expected
    assert expected == "879cc264c8cf1a356007d1e392b6eb00d8eef13812994965032c9c3041690814"


@pytest.mark.parametrize(
    "other",
    [
        SendFields(Channel.WHATSAPP, GOOD, "hello", "ACME", None, True, False),
        SendFields(Channel.SMS, "+393401234568", "hello", "ACME", None, True, False),
        SendFields(Channel.SMS, GOOD, "hello!", "ACME", None, True, False),
        SendFields(Channel.SMS, GOOD, "hello", None, None, True, False),
        SendFields(Channel.SMS, GOOD, "hello", "ACME", GOOD, True, False),
        SendFields(Channel.SMS, GOOD, "hello", "ACME", None, False, False),
        SendFields(Channel.SMS, GOOD, "hello", "ACME", None, True, True),
    ],
)
def test_any_difference_changes_the_fingerprint(other: SendFields) -> None:
    assert request_fingerprint(other) != request_fingerprint(BASE)
    assert request_fingerprint(other) == request_fingerprint(other)
