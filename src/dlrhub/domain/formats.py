"""The request a richer webhook (SPEC §8) receives for an event: pure functions, no I/O.

An event's *webhook values* are its values under the logical parameter names
(`transactionId`, `messageId`, ...), every value a string, fixed when the event is emitted
(stored in the `events.report` column). A webhook renames them (`parameters`), adds its
`customParams` and picks a send method:

- `GET`: the pairs are appended to the URL's query string (after any query the URL already
  has), percent-encoded as UTF-8 (space is `%20`); no body. The signed content is the whole
  query string of the request, exactly as sent (without the `?`).
- `POST`: the same encoding as the body, `application/x-www-form-urlencoded`.
- `JSON`: one object of strings, `application/json`.
- `XML`: `<?xml version="1.0" encoding="UTF-8"?><report><name>value</name>...</report>`,
  `application/xml`; text is escaped, a carriage return is sent as `&#13;` so that it
  survives parsing, and characters XML 1.0 cannot carry are replaced by U+FFFD.

For `POST`, `JSON` and `XML` the signed content is the body, byte for byte. Pairs come in the
order of the logical names in SPEC §8, then the custom parameters in the order given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from dlrhub.domain.outgoing import OutgoingRequest, signed_request
from dlrhub.domain.routing import ReportType
from dlrhub.domain.status import MessageStatus, status_code
from dlrhub.domain.text import is_xml_char
from dlrhub.domain.timestamps import format_optional_timestamp
from dlrhub.domain.webhook_rules import allowed_parameters

__all__ = [
    "FormattedRequest",
    "dlr_values",
    "format_request",
    "mo_values",
    "richer_request",
    "sample_values",
    "xml_text",
]

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
SAMPLE_NUMBER = "+393401234567"
SAMPLE_TEXT = "This is a test message from dlrhub"


@dataclass(frozen=True)
class FormattedRequest:
    method: str  # the HTTP method: GET or POST
    url: str
    content_type: str | None
    body: bytes
    signed_content: bytes


def _time(moment: datetime | None) -> str:
    return format_optional_timestamp(moment) or ""


def dlr_values(
    *,
    message_id: str,
    customer_message_id: str,
    destination: str,
    status: MessageStatus,
    sent_at: datetime,
    delivered_at: datetime | None,
    read_at: datetime | None,
) -> dict[str, str]:
    """The DLR values of a message now at `status` (a DELIVERY or a READ event)."""
    code = status_code(status)
    delivered = status in (MessageStatus.DELIVERED, MessageStatus.READ)
    return {
        "transactionId": customer_message_id,
        "messageId": message_id,
        "errorCode": "0" if delivered or code is None else str(code),
        "mobileNumber": destination,
        "receivedTime": _time(sent_at),
        "deliveredTime": _time(delivered_at),
        "readTime": _time(read_at),
        "status": status.value,
    }


def mo_values(
    *, message_id: str, source: str, text: str, received_at: datetime, message_type: str = "TEXT"
) -> dict[str, str]:
    """The MO values of an inbound message; `mobileNumber` is the sender."""
    return {
        "messageId": message_id,
        "mobileNumber": source,
        "text": text,
        "receivedTime": _time(received_at),
        "messageType": message_type,
    }


def sample_values(report_type: str, *, sample_id: str, now: datetime) -> dict[str, str]:
    """A made-up event of this report type, for testing an endpoint."""
    if report_type == ReportType.MO:
        return mo_values(
            message_id=sample_id, source=SAMPLE_NUMBER, text=SAMPLE_TEXT, received_at=now
        )
    return dlr_values(
        message_id=sample_id,
        customer_message_id=f"test-{sample_id[:8]}",
        destination=SAMPLE_NUMBER,
        status=MessageStatus.DELIVERED,
        sent_at=now - timedelta(seconds=2),
        delivered_at=now,
        read_at=None,
    )


def _clean(value: str) -> str:
    # A lone surrogate cannot be encoded as UTF-8 in any format.
    if value.isascii():
        return value
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)


def _pairs(
    report_type: str,
    values: Mapping[str, str],
    parameters: Mapping[str, str],
    custom_params: Mapping[str, str],
) -> list[tuple[str, str]]:
    pairs = [
        (_clean(parameters[logical]), _clean(values.get(logical, "")))
        for logical in allowed_parameters(report_type)
        if logical in parameters
    ]
    pairs.extend((_clean(name), _clean(value)) for name, value in custom_params.items())
    return pairs


def xml_text(value: str) -> str:
    """`value` as XML character data that parses back to itself (see the module doc)."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A literal CR is a Char, but parsers normalise it to LF: the reference keeps it a CR.
    escaped = escaped.replace("\r", "&#13;")
    if all(is_xml_char(ch) for ch in escaped):
        return escaped
    return "".join(ch if is_xml_char(ch) else "\ufffd" for ch in escaped)


def _query(pairs: Sequence[tuple[str, str]]) -> str:
    return urlencode(list(pairs), quote_via=quote)


def _with_query(url: str, query: str) -> str:
    if not query:
        return url
    if "?" not in url:
        return f"{url}?{query}"
    if url.endswith(("?", "&")):
        return url + query
    return f"{url}&{query}"


def format_request(
    *,
    method: str,
    url: str,
    report_type: str,
    values: Mapping[str, str],
    parameters: Mapping[str, str],
    custom_params: Mapping[str, str],
) -> FormattedRequest:
    """The method, URL, content type and body of one request, and the bytes to sign."""
    pairs = _pairs(report_type, values, parameters, custom_params)
    if method == "GET":
        target = _with_query(url, _query(pairs))
        signed = target.partition("?")[2].encode("utf-8")
        return FormattedRequest("GET", target, None, b"", signed)
    if method == "POST":
        body = _query(pairs).encode("ascii")
        return FormattedRequest("POST", url, "application/x-www-form-urlencoded", body, body)
    if method == "JSON":
        text = json.dumps(dict(pairs), ensure_ascii=False, separators=(",", ":"))
        return FormattedRequest(
            "POST", url, "application/json", text.encode("utf-8"), text.encode()
        )
    if method == "XML":
        elements = "".join(f"<{name}>{xml_text(value)}</{name}>" for name, value in pairs)
        body = f"{XML_DECLARATION}<report>{elements}</report>".encode()
        return FormattedRequest("POST", url, "application/xml", body, body)
    raise ValueError(f"unknown send method {method!r}")


def richer_request(
    *,
    method: str,
    url: str,
    report_type: str,
    values: Mapping[str, str],
    parameters: Mapping[str, str],
    custom_params: Mapping[str, str],
    custom_headers: Mapping[str, str],
    event_id: str,
    secrets: Sequence[str],
    timestamp: int,
    user_agent: str,
) -> OutgoingRequest:
    """The whole signed request; custom headers never replace the platform's own."""
    formatted = format_request(
        method=method,
        url=url,
        report_type=report_type,
        values=values,
        parameters=parameters,
        custom_params=custom_params,
    )
    return signed_request(
        method=formatted.method,
        url=formatted.url,
        content_type=formatted.content_type,
        body=formatted.body,
        signed_content=formatted.signed_content,
        event_id=event_id,
        secrets=secrets,
        timestamp=timestamp,
        user_agent=user_agent,
        custom_headers=custom_headers,
    )
