"""What a refused richer-webhook configuration says (SPEC §1: a problem body naming each
field and why), exactly, at each limit: the API and the dashboard show these words."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.urlpolicy import UrlPolicy
from dlrhub.domain.webhook_rules import (
    WebhookSpec,
    check_webhook,
    header_name_problem,
    header_value_problem,
    name_problem,
    value_problem,
)

XML_NAME = (
    "must be an XML element name: a letter or '_' first, then letters, digits, "
    "'-', '_' or '.' (ASCII only)"
)
TOKEN = "a header name is 1 to 100 letters, digits or !#$%&'*+-.^_`|~ (an HTTP token)"
PRINTABLE = "the value must contain only printable characters, tabs and line breaks"
HEADER_ASCII = "a header value must be printable ASCII (no line breaks or control characters)"
SMS_DLR = {
    "transactionId": "ref",
    "messageId": "id",
    "errorCode": "err",
    "mobileNumber": "msisdn",
    "receivedTime": "submitted",
    "deliveredTime": "done",
}
WABA = "+393409876543"


@pytest.mark.parametrize(
    ("name", "method", "problem"),
    [
        ("", "JSON", "the name must not be empty"),
        ("a" * 100, "JSON", None),
        ("a" * 101, "JSON", "the name must be at most 100 characters"),
        ("a" * 101, "XML", "the name must be at most 100 characters"),
        ("1abc", "XML", XML_NAME),
        ("_a.b-c9", "XML", None),
        ("xmlFoo", "XML", "XML element names starting with 'xml' are reserved"),
        ("XmLa", "XML", "XML element names starting with 'xml' are reserved"),
        ("xm", "XML", None),
        ("a b", "GET", None),
        ("a\x01", "JSON", "the name must not contain control characters"),
        ("a\ud800", "POST", "the name must not contain control characters"),
        ("a\u200b", "POST", None),  # a format character is not a control character
    ],
)
def test_name_problem(name: str, method: str, problem: str | None) -> None:
    assert name_problem(name, method) == problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("x" * 1000, None),
        ("x" * 1001, "the value must be at most 1000 characters"),
        ("tab\tand\nbreaks\r", None),
        ("a\x01", PRINTABLE),
        ("a\ufffe", PRINTABLE),
    ],
)
def test_value_problem(value: str, problem: str | None) -> None:
    assert value_problem(value) == problem


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", TOKEN),
        ("a" * 100, None),
        ("a" * 101, TOKEN),
        ("Bad Name", TOKEN),
        ("X-Tenant", None),
        ("Content-Type", "Content-Type is set by dlrhub and cannot be replaced"),
    ],
)
def test_header_name_problem(name: str, problem: str | None) -> None:
    assert header_name_problem(name) == problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("v" * 1000, None),
        ("v" * 1001, "a header value is at most 1000 characters"),
        ("a\nb", HEADER_ASCII),
        ("caf\u00e9", HEADER_ASCII),
        (" a", "a header value must not start or end with spaces"),
        ("a\t", "a header value must not start or end with spaces"),
        ("a b\tc", None),
        ("X-Ray", None),  # only spaces and tabs count as padding
        ("", None),
    ],
)
def test_header_value_problem(value: str, problem: str | None) -> None:
    assert header_value_problem(value) == problem


def _spec(**changes: Any) -> WebhookSpec:
    base = WebhookSpec("SMS", "DLR", "GET", "https://crm.example.com/dlr", None, dict(SMS_DLR))
    return dataclasses.replace(base, **changes)


def _problems(spec: WebhookSpec) -> list[tuple[str, str]]:
    refused: InvalidInput | None = None
    try:
        check_webhook(spec, waba_numbers=[WABA], policy=UrlPolicy())
    except InvalidInput as exc:
        refused = exc
    if refused is None:
        return []
    pairs = [(e.field, e.message) for e in refused.errors]
    assert refused.detail == "; ".join(f"{field}: {message}" for field, message in pairs)
    return pairs


WA = {"product": "WHATSAPP", "parameters": {**SMS_DLR, "readTime": "r", "status": "s"}}


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({}, []),
        # An unknown report type is one problem, not a list of parameters it would need.
        ({"report_type": "BOGUS", "parameters": {}}, [("reportType", "must be one of DLR, MO")]),
        ({**WA, "waba_number": WABA}, []),
        ({**WA, "waba_number": "12"}, [("wabaNumber", "must be an E.164 number")]),
        (
            {**WA, "waba_number": "+393409876500"},
            [("wabaNumber", "is not one of this account's WhatsApp business numbers")],
        ),
        (
            {"parameters": {**SMS_DLR, "bogus": "b"}},
            [
                (
                    "parameters.bogus",
                    "unknown parameter; a DLR webhook names transactionId, messageId, "
                    "errorCode, mobileNumber, receivedTime, deliveredTime, readTime, status",
                )
            ],
        ),
        (
            {"parameters": {k: v for k, v in SMS_DLR.items() if k != "errorCode"}},
            [("parameters.errorCode", "is required")],
        ),
        ({"custom_params": {f"p{i}": "v" for i in range(50)}}, []),
        (
            {"custom_params": {f"p{i}": "v" for i in range(51)}},
            [("customParams", "at most 50 entries")],
        ),
        ({"custom_headers": {f"X-H{i}": "v" for i in range(50)}}, []),
        (
            {"custom_headers": {f"X-H{i}": "v" for i in range(51)}},
            [("customHeaders", "at most 50 entries")],
        ),
        (
            {"custom_headers": {"X-A": "1", "x-a": "2"}},
            [("customHeaders.x-a", "the same header is named twice (header names ignore case)")],
        ),
        (
            {"product": "FAX", "method": "PUT", "custom_headers": {"Host": "h"}},
            [
                ("product", "must be one of SMS, WHATSAPP, RCS"),
                ("method", "must be one of GET, POST, JSON, XML"),
                ("customHeaders.Host", "Host is set by dlrhub and cannot be replaced"),
            ],
        ),
    ],
)
def test_check_webhook_names_every_problem(
    changes: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    assert _problems(_spec(**changes)) == problems
