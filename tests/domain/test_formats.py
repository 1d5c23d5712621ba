"""The requests richer webhooks receive (SPEC §8), as pure functions of (event, webhook)."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlrhub.domain.formats import (
    dlr_values,
    format_request,
    mo_values,
    richer_request,
    sample_values,
    xml_text,
)
from dlrhub.domain.status import MessageStatus
from dlrhub.domain.urlpolicy import UrlPolicy
from dlrhub.domain.webhook_rules import (
    METHODS,
    WebhookSpec,
    check_webhook,
    name_problem,
    required_parameters,
    value_problem,
)
from tests.support.stdwebhooks import verify

SENT = datetime(2026, 4, 9, 10, 29, 58, tzinfo=UTC)
DONE = datetime(2026, 4, 9, 10, 30, 0, tzinfo=UTC)
READ = datetime(2026, 4, 9, 10, 31, 5, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
TS = int(DONE.timestamp())
URL = "https://crm.example.com/dlr?token=abc"
DLR = {
    "transactionId": "ref",
    "messageId": "msgid",
    "errorCode": "err",
    "mobileNumber": "msisdn",
    "receivedTime": "submitted",
    "deliveredTime": "delivered",
    "readTime": "read",
    "status": "stat",
}
MO = {
    "messageId": "mo_id",
    "mobileNumber": "from",
    "text": "body",
    "receivedTime": "at",
    "messageType": "type",
}
CUSTOM = {"source": "dlr hub", "note": "è<&>\r"}


def delivered() -> dict[str, str]:
    return dlr_values(
        message_id="m-1",
        customer_message_id="order 1&2",
        destination="+393401234567",
        status=MessageStatus.DELIVERED,
        sent_at=SENT,
        delivered_at=DONE,
        read_at=None,
    )


# ---------------------------------------------------------------- webhook values


def test_dlr_values_of_each_outcome() -> None:
    assert delivered() == {
        "transactionId": "order 1&2",
        "messageId": "m-1",
        "errorCode": "0",
        "mobileNumber": "+393401234567",
        "receivedTime": "2026-04-09T10:29:58Z",
        "deliveredTime": "2026-04-09T10:30:00Z",
        "readTime": "",
        "status": "DELIVERED",
    }
    common = {
        "message_id": "m",
        "customer_message_id": "c",
        "destination": "+393401234567",
        "sent_at": SENT,
    }
    error = dlr_values(status=MessageStatus.ERROR, delivered_at=None, read_at=None, **common)
    assert (error["errorCode"], error["deliveredTime"], error["status"]) == ("6", "", "ERROR")
    expired = dlr_values(status=MessageStatus.EXPIRED, delivered_at=None, read_at=None, **common)
    assert (expired["errorCode"], expired["status"]) == ("8", "EXPIRED")
    read = dlr_values(status=MessageStatus.READ, delivered_at=DONE, read_at=READ, **common)
    assert read["errorCode"] == "0"
    assert read["deliveredTime"] == "2026-04-09T10:30:00Z"
    assert read["readTime"] == "2026-04-09T10:31:05Z"
    assert read["status"] == "READ"


def test_mo_values() -> None:
    assert mo_values(message_id="e-1", source="+393401234567", text="Sì", received_at=DONE) == {
        "messageId": "e-1",
        "mobileNumber": "+393401234567",
        "text": "Sì",
        "receivedTime": "2026-04-09T10:30:00Z",
        "messageType": "TEXT",
    }


def test_sample_values_name_every_logical_parameter() -> None:
    for product, report_type in (("WHATSAPP", "DLR"), ("WHATSAPP", "MO"), ("SMS", "DLR")):
        sample = sample_values(report_type, sample_id="s" * 36, now=DONE)
        assert set(required_parameters(product, report_type)) <= set(sample)


# ---------------------------------------------------------------- exact requests

QUERY = (
    "ref=order%201%262&msgid=m-1&err=0&msisdn=%2B393401234567"
    "&submitted=2026-04-09T10%3A29%3A58Z&delivered=2026-04-09T10%3A30%3A00Z&read=&stat=DELIVERED"
    "&source=dlr%20hub&note=%C3%A8%3C%26%3E%0D"
)
XML_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><report><ref>order 1&amp;2</ref><msgid>m-1</msgid>'
    "<err>0</err><msisdn>+393401234567</msisdn><submitted>2026-04-09T10:29:58Z</submitted>"
    "<delivered>2026-04-09T10:30:00Z</delivered><read></read><stat>DELIVERED</stat>"
    "<source>dlr hub</source><note>è&lt;&amp;&gt;&#13;</note></report>"
)
JSON_BODY = (
    '{"ref":"order 1&2","msgid":"m-1","err":"0","msisdn":"+393401234567",'
    '"submitted":"2026-04-09T10:29:58Z","delivered":"2026-04-09T10:30:00Z","read":"",'
    '"stat":"DELIVERED","source":"dlr hub","note":"è<&>\\r"}'
)


@pytest.mark.parametrize(
    ("method", "http_method", "url", "content_type", "body"),
    [
        ("GET", "GET", f"{URL}&{QUERY}", None, b""),
        ("POST", "POST", URL, "application/x-www-form-urlencoded", QUERY.encode()),
        ("JSON", "POST", URL, "application/json", JSON_BODY.encode()),
        ("XML", "POST", URL, "application/xml", XML_BODY.encode()),
    ],
)
def test_exact_delivery_request(
    method: str, http_method: str, url: str, content_type: str | None, body: bytes
) -> None:
    request = richer_request(
        method=method,
        url=URL,
        report_type="DLR",
        values=delivered(),
        parameters=DLR,
        custom_params=CUSTOM,
        custom_headers={"X-Tenant": "acme", "webhook-id": "forged", "CONTENT-TYPE": "text/x"},
        event_id="evt-1",
        secrets=[SECRET],
        timestamp=TS,
        user_agent="dlrhub/test",
    )
    assert (request.method, request.url, request.body) == (http_method, url, body)
    expected_headers = {"X-Tenant": "acme", "User-Agent": "dlrhub/test"}
    if content_type is not None:
        expected_headers["Content-Type"] = content_type
    signed = request.headers.pop("webhook-signature")
    assert request.headers == {
        **expected_headers,
        "webhook-id": "evt-1",
        "webhook-timestamp": str(TS),
    }
    # The signature covers exactly the bytes sent; for GET, the query string as sent.
    content = urlsplit(url).query.encode() if method == "GET" else body
    verify(SECRET, {**request.headers, "webhook-signature": signed}, content, now=TS)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h.example/p", "https://h.example/p?a=1"),
        ("https://h.example/p?", "https://h.example/p?a=1"),
        ("https://h.example/p?x=%7e", "https://h.example/p?x=%7e&a=1"),
        ("https://h.example/p?x=1&", "https://h.example/p?x=1&a=1"),
    ],
)
def test_get_keeps_the_query_the_url_has(url: str, expected: str) -> None:
    formatted = format_request(
        method="GET",
        url=url,
        report_type="MO",
        values={"messageId": "1"},
        parameters={"messageId": "a"},
        custom_params={},
    )
    assert formatted.url == expected
    assert formatted.signed_content == expected.partition("?")[2].encode()


def test_exact_read_and_inbound_values() -> None:
    read = dlr_values(
        message_id="m-1",
        customer_message_id="c-1",
        destination="+393401234567",
        status=MessageStatus.READ,
        sent_at=SENT,
        delivered_at=DONE,
        read_at=READ,
    )
    formatted = format_request(
        method="JSON", url=URL, report_type="DLR", values=read, parameters=DLR, custom_params={}
    )
    assert formatted.body == (
        b'{"ref":"c-1","msgid":"m-1","err":"0","msisdn":"+393401234567",'
        b'"submitted":"2026-04-09T10:29:58Z","delivered":"2026-04-09T10:30:00Z",'
        b'"read":"2026-04-09T10:31:05Z","stat":"READ"}'
    )
    inbound = mo_values(message_id="e-1", source="+393401234567", text="a<b", received_at=DONE)
    formatted = format_request(
        method="XML", url=URL, report_type="MO", values=inbound, parameters=MO, custom_params={}
    )
    assert formatted.body == (
        b'<?xml version="1.0" encoding="UTF-8"?><report><mo_id>e-1</mo_id>'
        b"<from>+393401234567</from><body>a&lt;b</body><at>2026-04-09T10:30:00Z</at>"
        b"<type>TEXT</type></report>"
    )


def test_only_named_optional_parameters_are_sent() -> None:
    sms = {k: v for k, v in DLR.items() if k not in ("readTime", "status")}
    formatted = format_request(
        method="JSON",
        url=URL,
        report_type="DLR",
        values=delivered(),
        parameters=sms,
        custom_params={},
    )
    assert list(json.loads(formatted.body)) == list(sms.values())


def test_xml_text_that_xml_cannot_carry_becomes_replacement_characters() -> None:
    assert xml_text("a\x00b\x1bc\ufffe") == "a\ufffdb\ufffdc\ufffd"
    assert xml_text("tab\tline\nret\r") == "tab\tline\nret&#13;"


def test_lone_surrogates_never_break_encoding() -> None:
    mo = mo_values(message_id="1", source="+1", text="a\ud800b", received_at=DONE)
    for method in METHODS:
        format_request(
            method=method, url=URL, report_type="MO", values=mo, parameters=MO, custom_params={}
        )


# ---------------------------------------------------------------- properties

# Values an event can carry: any text XML 1.0 can represent (text that cannot be is replaced).
_event_values = st.text(
    st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
        st.sampled_from("\t\n\r"),
    ),
    max_size=20,
)
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_xml_names = st.builds(
    str.__add__, st.sampled_from(_LETTERS), st.text(_LETTERS + "0123456789.-", max_size=10)
)
_text_names = st.text(min_size=1, max_size=10)
_custom_values = st.text(max_size=10).filter(lambda v: value_problem(v) is None)


@st.composite
def configurations(draw: st.DrawFn) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """A method, a report type, and parameter names and custom params the rules accept."""
    method = draw(st.sampled_from(METHODS))
    report_type = draw(st.sampled_from(["DLR", "MO"]))
    logical = required_parameters("WHATSAPP", report_type)
    names = draw(
        st.lists(
            (_xml_names if method == "XML" else _text_names).filter(
                lambda n: name_problem(n, method) is None
            ),
            min_size=len(logical),
            max_size=len(logical) + 3,
            unique=True,
        )
    )
    parameters = dict(zip(logical, names, strict=False))
    custom_names = names[len(logical) :]
    custom = {name: draw(_custom_values) for name in custom_names}
    spec = WebhookSpec(
        product="WHATSAPP",
        report_type=report_type,
        method=method,
        url=URL,
        waba_number=None,
        parameters=parameters,
        custom_params=custom,
        custom_headers={},
    )
    check_webhook(spec, waba_numbers=(), policy=UrlPolicy())  # the API accepts it
    return method, report_type, parameters, custom


@settings(deadline=None)
@given(configurations(), st.lists(_event_values, min_size=8, max_size=8))
def test_accepted_configurations_decode_back_to_the_same_values(
    config: tuple[str, str, dict[str, str], dict[str, str]], values: list[str]
) -> None:
    method, report_type, parameters, custom = config
    event_values = dict(zip(parameters, values, strict=False))
    formatted = format_request(
        method=method,
        url=URL,
        report_type=report_type,
        values=event_values,
        parameters=parameters,
        custom_params=custom,
    )
    expected = {parameters[k]: event_values[k] for k in parameters} | custom
    if method == "GET":
        decoded = dict(parse_qsl(urlsplit(formatted.url).query, keep_blank_values=True))
        assert decoded.pop("token") == "abc"
        assert formatted.signed_content == urlsplit(formatted.url).query.encode()
    elif method == "POST":
        decoded = dict(parse_qsl(formatted.body.decode("ascii"), keep_blank_values=True))
    elif method == "JSON":
        decoded = json.loads(formatted.body)
    else:
        root = ET.fromstring(formatted.body)
        assert root.tag == "report"
        decoded = {child.tag: child.text or "" for child in root}
        assert len(root) == len(expected)
    assert decoded == expected
    if method != "GET":
        assert formatted.signed_content == formatted.body


@settings(deadline=None)
@given(st.text(max_size=30))
def test_refused_values_say_why(value: str) -> None:
    problem = value_problem(value)
    if problem is None:
        # Accepted values survive every format.
        root = ET.fromstring(f"<r>{xml_text(value)}</r>".encode())
        assert (root.text or "") == value
    else:
        assert "characters" in problem


@settings(deadline=None)
@given(st.sampled_from(METHODS), st.text(max_size=12))
def test_names_are_accepted_or_refused_with_a_reason(method: str, name: str) -> None:
    problem = name_problem(name, method)
    assert problem is None or problem.strip()


def test_exact_sample_values() -> None:
    """What "Test webhook" sends (SPEC §8 test): a delivered message two seconds after it was
    accepted, or a reply, with the sample's id."""
    sample_id = "0123456789abcdef"
    assert sample_values("DLR", sample_id=sample_id, now=DONE) == {
        "transactionId": "test-01234567",
        "messageId": sample_id,
        "errorCode": "0",
        "mobileNumber": "+393401234567",
        "receivedTime": "2026-04-09T10:29:58Z",
        "deliveredTime": "2026-04-09T10:30:00Z",
        "readTime": "",
        "status": "DELIVERED",
    }
    assert sample_values("MO", sample_id=sample_id, now=DONE) == {
        "messageId": sample_id,
        "mobileNumber": "+393401234567",
        "text": "This is a test message from dlrhub",
        "receivedTime": "2026-04-09T10:30:00Z",
        "messageType": "TEXT",
    }
