"""The rules a richer webhook's configuration must follow (SPEC §8), table-tested."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.urlpolicy import UrlPolicy
from dlrhub.domain.webhook_rules import (
    METHODS,
    WebhookSpec,
    check_webhook,
    header_name_problem,
    name_problem,
    required_parameters,
)

STRICT = UrlPolicy()
NUMBER_A = "+393409876543"
SMS_DLR = {
    "transactionId": "ref",
    "messageId": "id",
    "errorCode": "err",
    "mobileNumber": "msisdn",
    "receivedTime": "submitted",
    "deliveredTime": "done",
}
WA_DLR = {**SMS_DLR, "readTime": "read", "status": "stat"}
MO = {
    "messageId": "id",
    "mobileNumber": "from",
    "text": "body",
    "receivedTime": "at",
    "messageType": "kind",
}


def spec(**changes: Any) -> WebhookSpec:
    base = WebhookSpec(
        product="SMS",
        report_type="DLR",
        method="GET",
        url="https://crm.example.com/dlr",
        waba_number=None,
        parameters=dict(SMS_DLR),
        custom_params={},
        custom_headers={},
    )
    return dataclasses.replace(base, **changes)


def xml_error_code(name: str) -> WebhookSpec:
    return spec(method="XML", parameters={**SMS_DLR, "errorCode": name})


def header(name: str) -> WebhookSpec:
    return spec(custom_headers={name: "value"})


def problems(candidate: WebhookSpec, numbers: tuple[str, ...] = (NUMBER_A,)) -> dict[str, str]:
    try:
        check_webhook(candidate, waba_numbers=numbers, policy=STRICT)
    except InvalidInput as exc:
        errors = exc.errors
    else:
        return {}
    assert errors, "an InvalidInput must say which field is wrong"
    return {e.field: e.message for e in errors}


def test_required_parameters() -> None:
    assert required_parameters("SMS", "DLR") == list(SMS_DLR)
    assert required_parameters("RCS", "DLR") == list(SMS_DLR)
    assert required_parameters("WHATSAPP", "DLR") == list(WA_DLR)
    assert required_parameters("WHATSAPP", "MO") == list(MO)


@pytest.mark.parametrize(
    "candidate",
    [
        spec(),
        spec(method="POST"),
        spec(method="JSON", custom_params={"source": "dlrhub", "empty": ""}),
        spec(method="XML", parameters={**SMS_DLR, "readTime": "read_at"}),
        spec(product="RCS"),
        spec(product="RCS", report_type="MO", parameters=MO),
        spec(product="WHATSAPP", parameters=WA_DLR),
        spec(product="WHATSAPP", parameters=WA_DLR, waba_number=NUMBER_A),
        spec(product="WHATSAPP", parameters=WA_DLR, waba_number=""),  # blank form field
        spec(product="WHATSAPP", report_type="MO", parameters=MO, method="XML"),
        spec(custom_headers={"X-Tenant": "acme", "Authorization": "Bearer a b"}),
        spec(url="https://crm.example.com/dlr?token=abc&x=1"),
    ],
)
def test_accepted(candidate: WebhookSpec) -> None:
    assert problems(candidate) == {}


@pytest.mark.parametrize(
    ("candidate", "field", "says"),
    [
        (spec(product="MMS"), "product", "SMS, WHATSAPP, RCS"),
        (spec(report_type="ALL"), "reportType", "DLR, MO"),
        (spec(report_type="MO", parameters=MO), "reportType", "not available for SMS"),
        (spec(method="PUT"), "method", "GET, POST, JSON, XML"),
        (spec(method="get"), "method", "GET, POST, JSON, XML"),
        (spec(url="http://crm.example.com/dlr"), "url", "https"),
        (spec(url="https://127.0.0.1/dlr"), "url", "private"),
        (spec(url="not a url"), "url", "spaces"),
        (spec(url="https://crm.example.com/ümlaut"), "url", "ASCII"),
        (spec(waba_number=NUMBER_A), "wabaNumber", "only for WHATSAPP"),
        (
            spec(product="WHATSAPP", parameters=WA_DLR, waba_number="+15550000000"),
            "wabaNumber",
            "not one of this account's",
        ),
        (
            spec(product="WHATSAPP", parameters=WA_DLR, waba_number="12"),
            "wabaNumber",
            "E.164",
        ),
        (spec(parameters={**SMS_DLR, "transactionId": ""}), "parameters.transactionId", "empty"),
        (
            spec(parameters={k: v for k, v in SMS_DLR.items() if k != "errorCode"}),
            "parameters.errorCode",
            "required",
        ),
        (spec(product="WHATSAPP", parameters=SMS_DLR), "parameters.readTime", "required"),
        (spec(product="WHATSAPP", parameters=SMS_DLR), "parameters.status", "required"),
        (spec(parameters={**SMS_DLR, "text": "t"}), "parameters.text", "unknown parameter"),
        (
            spec(parameters={**SMS_DLR, "messageId": "ref"}),
            "parameters.messageId",
            "already used by parameters.transactionId",
        ),
        (
            spec(custom_params={"msisdn": "x"}),
            "customParams.msisdn",
            "already used by parameters.mobileNumber",
        ),
        (spec(parameters={**SMS_DLR, "errorCode": "e\x00"}), "parameters.errorCode", "control"),
        (spec(parameters={**SMS_DLR, "errorCode": "x" * 101}), "parameters.errorCode", "100"),
        (xml_error_code("1err"), "parameters.errorCode", "XML"),
        (xml_error_code("a b"), "parameters.errorCode", "XML"),
        (xml_error_code("ns:e"), "parameters.errorCode", "XML"),
        (xml_error_code("XmlErr"), "parameters.errorCode", "reserved"),
        (xml_error_code("é"), "parameters.errorCode", "ASCII"),
        (spec(method="XML", custom_params={"a<b": "v"}), "customParams.a<b", "XML"),
        (spec(custom_params={"k": "a\x00b"}), "customParams.k", "printable"),
        (spec(custom_params={"k": "\ud800"}), "customParams.k", "printable"),
        (spec(custom_params={"k": "v" * 1001}), "customParams.k", "1000"),
        (spec(custom_params={f"k{i}": "v" for i in range(51)}), "customParams", "50"),
        (spec(custom_headers={"X Bad": "v"}), "customHeaders.X Bad", "HTTP token"),
        (spec(custom_headers={"": "v"}), "customHeaders.", "HTTP token"),
        (spec(custom_headers={"X-A": "a\r\nX-Injected: 1"}), "customHeaders.X-A", "line breaks"),
        (spec(custom_headers={"X-A": "é"}), "customHeaders.X-A", "ASCII"),
        (spec(custom_headers={"X-A": " padded"}), "customHeaders.X-A", "spaces"),
        (header("webhook-signature"), "customHeaders.webhook-signature", "cannot be replaced"),
        (header("Webhook-Id"), "customHeaders.Webhook-Id", "cannot be replaced"),
        (header("Content-Type"), "customHeaders.Content-Type", "cannot be replaced"),
        (header("Transfer-Encoding"), "customHeaders.Transfer-Encoding", "cannot be replaced"),
        (header("User-Agent"), "customHeaders.User-Agent", "cannot be replaced"),
        (spec(custom_headers={"X-A": "1", "x-a": "2"}), "customHeaders.x-a", "twice"),
    ],
)
def test_refused_with_reason(candidate: WebhookSpec, field: str, says: str) -> None:
    found = problems(candidate)
    assert field in found, found
    assert says in found[field]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        spec(product="SMS", report_type="MO", method="PUT", url="ftp://x", parameters={})
    )
    assert {"reportType", "method", "url"} <= set(found)


# ---------------------------------------------------------------- properties

_names = st.text(min_size=0, max_size=12)


@settings(deadline=None)
@given(_names)
def test_accepted_xml_names_are_element_names(name: str) -> None:
    problem = name_problem(name, "XML")
    document = f"<{name}>v</{name}>".encode()
    if problem is None:
        assert ET.fromstring(document).tag == name
    else:
        assert problem  # refused, with a reason


@settings(deadline=None)
@given(st.sampled_from(METHODS), _names)
def test_every_name_is_accepted_or_refused_with_a_reason(method: str, name: str) -> None:
    problem = name_problem(name, method)
    if problem is not None:
        assert problem.strip()
        found = problems(spec(method=method, parameters={**SMS_DLR, "errorCode": name}))
        assert found["parameters.errorCode"] == problem


@settings(deadline=None)
@given(st.text(max_size=10))
def test_header_names_are_http_tokens(name: str) -> None:
    if header_name_problem(name) is None:
        assert name
        assert all(ch.isascii() and ch.isprintable() for ch in name)
        assert not set(name) & set(' "(),/:;<=>?@[\\]{}')
