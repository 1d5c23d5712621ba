"""What a richer webhook (SPEC §8) may be configured as: pure rules, no I/O.

Every problem is reported as a `FieldError` whose field is the API's camelCase path
(`reportType`, `parameters.transactionId`, `customHeaders.X-Foo`), so the API and the
dashboard show the same message next to the same input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.outgoing import PROTECTED_HEADERS
from dlrhub.domain.phone import is_e164
from dlrhub.domain.routing import ReportType
from dlrhub.domain.status import Channel
from dlrhub.domain.text import is_xml_char
from dlrhub.domain.urlpolicy import UrlPolicy, check_callback_url

__all__ = [
    "DLR_PARAMETERS",
    "METHODS",
    "MO_PARAMETERS",
    "PRODUCTS",
    "REPORT_TYPES",
    "WebhookSpec",
    "allowed_parameters",
    "check_webhook",
    "header_name_problem",
    "header_value_problem",
    "name_problem",
    "normalized",
    "offered_report_types",
    "required_parameters",
    "takes_waba_number",
    "value_problem",
]

PRODUCTS: tuple[Channel, ...] = tuple(Channel)
REPORT_TYPES: tuple[ReportType, ...] = tuple(ReportType)
METHODS = ("GET", "POST", "JSON", "XML")

# The logical parameters, in the order they are sent (SPEC §8).
DLR_PARAMETERS = (
    "transactionId",
    "messageId",
    "errorCode",
    "mobileNumber",
    "receivedTime",
    "deliveredTime",
    "readTime",
    "status",
)
_WHATSAPP_ONLY_REQUIRED = frozenset({"readTime", "status"})
MO_PARAMETERS = ("messageId", "mobileNumber", "text", "receivedTime", "messageType")

MAX_NAME_LENGTH = 100
MAX_VALUE_LENGTH = 1000
MAX_HEADER_VALUE_LENGTH = 1000
MAX_CUSTOM_ENTRIES = 50

# ASCII-only on purpose: XML parsers disagree on non-ASCII name characters (XML 1.0 4th vs
# 5th edition), and a name every parser accepts is the only safe one. Colons would need
# a namespace declaration; names starting with "xml" are reserved by the XML spec.
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\t]*")
_ASCII_URL = (
    "must be ASCII: percent-encode other characters and write an international domain "
    "name in its xn-- form"
)


@dataclass(frozen=True)
class WebhookSpec:
    """What a client asks for; both the API and the dashboard build one."""

    product: str
    report_type: str
    method: str
    url: str
    waba_number: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    custom_params: dict[str, str] = field(default_factory=dict)
    custom_headers: dict[str, str] = field(default_factory=dict)
    # "message": a message's events arrive in order; "none": in parallel (docs/ordering.md).
    ordering: str = "message"


# A webhook's choices of `ordering`.
ORDERINGS = ("message", "none")


def offered_report_types(product: str) -> tuple[ReportType, ...]:
    """The report types a webhook of `product` may have: an SMS has no replies (MO) to
    report. An unknown product is refused on its own, so it restricts nothing here."""
    if product == Channel.SMS:
        return (ReportType.DLR,)
    return REPORT_TYPES


def takes_waba_number(product: str) -> bool:
    """Whether a webhook of `product` may name a business number (SPEC §8): only WhatsApp
    events carry one to filter on."""
    return product == Channel.WHATSAPP


def required_parameters(product: str, report_type: str) -> list[str]:
    """The logical parameter names a webhook of this product and report type must name."""
    if report_type == ReportType.MO:
        return list(MO_PARAMETERS)
    if product == Channel.WHATSAPP:
        return list(DLR_PARAMETERS)
    return [name for name in DLR_PARAMETERS if name not in _WHATSAPP_ONLY_REQUIRED]


def allowed_parameters(report_type: str) -> tuple[str, ...]:
    """Every logical name a webhook of this report type may name (required or optional)."""
    return MO_PARAMETERS if report_type == ReportType.MO else DLR_PARAMETERS


def name_problem(name: str, method: str) -> str | None:
    """Why `name` cannot be a parameter name in a `method` request, or None if it can."""
    if not name:
        return "the name must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name must be at most {MAX_NAME_LENGTH} characters"
    if method == "XML":
        if not _XML_NAME.fullmatch(name):
            return (
                "must be an XML element name: a letter or '_' first, then letters, digits, "
                "'-', '_' or '.' (ASCII only)"
            )
        if name[:3].lower() == "xml":
            return "XML element names starting with 'xml' are reserved"
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        return "the name must not contain control characters"
    return None


def value_problem(value: str) -> str | None:
    """Why `value` cannot be a custom parameter's value, or None if it can (any format)."""
    if len(value) > MAX_VALUE_LENGTH:
        return f"the value must be at most {MAX_VALUE_LENGTH} characters"
    if any(not is_xml_char(ch) for ch in value):
        return "the value must contain only printable characters, tabs and line breaks"
    return None


def header_name_problem(name: str) -> str | None:
    if not name or len(name) > MAX_NAME_LENGTH or not _HTTP_TOKEN.fullmatch(name):
        return (
            f"a header name is 1 to {MAX_NAME_LENGTH} letters, digits or !#$%&'*+-.^_`|~ "
            "(an HTTP token)"
        )
    if name.lower() in PROTECTED_HEADERS:
        return f"{name} is set by dlrhub and cannot be replaced"
    return None


def header_value_problem(value: str) -> str | None:
    if len(value) > MAX_HEADER_VALUE_LENGTH:
        return f"a header value is at most {MAX_HEADER_VALUE_LENGTH} characters"
    if not _HEADER_VALUE.fullmatch(value):
        return "a header value must be printable ASCII (no line breaks or control characters)"
    if value != value.strip(" \t"):
        return "a header value must not start or end with spaces"
    return None


def normalized(spec: WebhookSpec) -> WebhookSpec:
    """`spec` with an empty business number (a blank form field) read as none."""
    if spec.waba_number == "":
        return replace(spec, waba_number=None)
    return spec


def check_webhook(spec: WebhookSpec, *, waba_numbers: Collection[str], policy: UrlPolicy) -> None:
    """Raise `InvalidInput` listing every problem of `spec`; return if it can be saved.

    `waba_numbers` are the WhatsApp business numbers of the account asking.
    """
    spec = normalized(spec)
    problems = _kind_problems(spec, waba_numbers)
    try:
        check_callback_url(spec.url, policy, field="url")
    except InvalidInput as exc:
        problems.extend(exc.errors)
    else:
        if not spec.url.isascii():
            # The request goes out exactly as built, so a signed query string stays intact.
            problems.append(FieldError("url", _ASCII_URL))
    if spec.report_type in REPORT_TYPES and spec.method in METHODS:
        problems.extend(_parameter_problems(spec))
    problems.extend(_header_problems(spec.custom_headers))
    if spec.ordering not in ORDERINGS:
        problems.append(FieldError("ordering", f"must be one of {', '.join(ORDERINGS)}"))
    if problems:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
        raise InvalidInput(detail, errors=problems)


def _kind_problems(spec: WebhookSpec, waba_numbers: Collection[str]) -> list[FieldError]:
    problems: list[FieldError] = []
    if spec.product not in PRODUCTS:
        problems.append(FieldError("product", f"must be one of {', '.join(PRODUCTS)}"))
    if spec.report_type not in REPORT_TYPES:
        problems.append(FieldError("reportType", f"must be one of {', '.join(REPORT_TYPES)}"))
    elif spec.report_type not in offered_report_types(spec.product):
        problems.append(
            FieldError("reportType", f"{spec.report_type} is not available for {spec.product}")
        )
    if spec.method not in METHODS:
        problems.append(FieldError("method", f"must be one of {', '.join(METHODS)}"))
    number = spec.waba_number
    if number is not None:
        if not takes_waba_number(spec.product):
            problems.append(FieldError("wabaNumber", "is only for WHATSAPP webhooks"))
        elif not is_e164(number):
            problems.append(FieldError("wabaNumber", "must be an E.164 number"))
        elif number not in waba_numbers:
            problems.append(
                FieldError("wabaNumber", "is not one of this account's WhatsApp business numbers")
            )
    return problems


def _parameter_problems(spec: WebhookSpec) -> list[FieldError]:
    problems: list[FieldError] = []
    allowed = allowed_parameters(spec.report_type)
    for logical in spec.parameters:
        if logical not in allowed:
            problems.append(
                FieldError(
                    f"parameters.{logical}",
                    f"unknown parameter; a {spec.report_type} webhook names {', '.join(allowed)}",
                )
            )
    for logical in required_parameters(spec.product, spec.report_type):
        if logical not in spec.parameters:
            problems.append(FieldError(f"parameters.{logical}", "is required"))
    if len(spec.custom_params) > MAX_CUSTOM_ENTRIES:
        problems.append(FieldError("customParams", f"at most {MAX_CUSTOM_ENTRIES} entries"))
    named: dict[str, str] = {}
    entries = [(f"parameters.{k}", v) for k, v in spec.parameters.items() if k in allowed]
    entries += [(f"customParams.{k}", k) for k in spec.custom_params]
    for path, name in entries:
        problem = name_problem(name, spec.method)
        if problem is None and name in named:
            problem = f"the name {name!r} is already used by {named[name]}"
        if problem is not None:
            problems.append(FieldError(path, problem))
        named.setdefault(name, path)
    for name, value in spec.custom_params.items():
        problem = value_problem(value)
        if problem is not None:
            problems.append(FieldError(f"customParams.{name}", problem))
    return problems


def _header_problems(headers: Mapping[str, str]) -> list[FieldError]:
    problems: list[FieldError] = []
    if len(headers) > MAX_CUSTOM_ENTRIES:
        problems.append(FieldError("customHeaders", f"at most {MAX_CUSTOM_ENTRIES} entries"))
    seen: set[str] = set()
    for name, value in headers.items():
        problem = header_name_problem(name) or header_value_problem(value)
        if problem is None and name.lower() in seen:
            problem = "the same header is named twice (header names ignore case)"
        if problem is not None:
            problems.append(FieldError(f"customHeaders.{name}", problem))
        seen.add(name.lower())
    return problems
