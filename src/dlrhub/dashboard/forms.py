"""The add/edit webhook form: its values as typed, turned into the service's `WebhookSpec`.

Nothing here decides whether a configuration is acceptable: that is `RicherWebhooks`' job, and
its field errors (named by API path: `url`, `parameters.transactionId`, `customHeaders.X-Foo`)
are shown next to the inputs named the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.datastructures import FormData

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.routing import ReportType
from dlrhub.domain.status import Channel
from dlrhub.domain.timestamps import as_utc
from dlrhub.domain.webhook_rules import (
    METHODS,
    PRODUCTS,
    REPORT_TYPES,
    offered_report_types,
    takes_waba_number,
)
from dlrhub.services.richer_webhooks import WebhookSpec, required_parameters
from dlrhub.store.records import WebhookRecord

PRODUCT_LABELS = {Channel.SMS: "SMS", Channel.WHATSAPP: "WhatsApp", Channel.RCS: "RCS"}
METHOD_LABELS = {
    "POST": "POST (form fields)",
    "GET": "GET (query string)",
    "JSON": "JSON (POST body)",
    "XML": "XML (POST body)",
}
REPORT_LABELS = {ReportType.DLR: "DLR (delivery reports)", ReportType.MO: "MO (replies)"}
ORDERING_LABELS = {
    "message": "In order per message (a later event waits for an earlier one)",
    "none": "As soon as possible (no order)",
}
PARAMETER_LABELS = {
    "transactionId": "Transaction ID parameter",
    "messageId": "Message ID parameter",
    "errorCode": "Error code parameter",
    "mobileNumber": "Mobile number parameter",
    "receivedTime": "Received time parameter",
    "deliveredTime": "Delivered time parameter",
    "readTime": "Read time parameter",
    "status": "Status parameter",
    "text": "Text parameter",
    "messageType": "Message type parameter",
}
# What the form offers, by the rules the service checks every submission with (seed 004: MO is
# not offered for SMS, a WABA number only for WhatsApp); this only keeps impossible choices out
# of sight.
OFFERED_REPORT_TYPES = {
    product.value: tuple(r.value for r in offered_report_types(product)) for product in PRODUCTS
}
WABA_PRODUCTS = tuple(product.value for product in PRODUCTS if takes_waba_number(product))
PAIR_SECTIONS = ("customParams", "customHeaders")


def all_parameters() -> list[str]:
    """Every logical parameter some product and report type asks for, in the service's order."""
    names: list[str] = []
    for product in PRODUCTS:
        for report_type in REPORT_TYPES:
            names.extend(n for n in required_parameters(product, report_type) if n not in names)
    return names


def offering(report_type: str) -> list[str]:
    """The products the form offers `report_type` for (read by the form script)."""
    return [p for p, offered in OFFERED_REPORT_TYPES.items() if report_type in offered]


def applies_to(name: str) -> list[str]:
    """The `PRODUCT:REPORT` combinations whose webhooks name `name` (read by the form script)."""
    return [
        f"{product}:{report_type}"
        for product in PRODUCTS
        for report_type in REPORT_TYPES
        if name in required_parameters(product, report_type)
    ]


@dataclass
class Pair:
    name: str = ""
    value: str = ""


@dataclass
class WebhookForm:
    product: str = Channel.SMS.value
    report_type: str = ReportType.DLR.value
    method: str = "POST"
    url: str = ""
    waba_number: str = ""
    parameters: dict[str, str] = field(default_factory=lambda: {n: n for n in all_parameters()})
    custom_params_on: bool = False
    custom_params: list[Pair] = field(default_factory=lambda: [Pair()])
    custom_headers_on: bool = False
    custom_headers: list[Pair] = field(default_factory=lambda: [Pair()])
    ordering: str = "message"

    @classmethod
    def of(cls, webhook: WebhookRecord) -> WebhookForm:
        defaults = cls()
        return cls(
            product=webhook.product or "",
            report_type=webhook.report_type or "",
            method=webhook.method,
            url=webhook.url,
            waba_number=webhook.waba_number or "",
            parameters={**defaults.parameters, **webhook.parameters},
            custom_params_on=bool(webhook.custom_params),
            custom_params=[Pair(k, v) for k, v in webhook.custom_params.items()] or [Pair()],
            custom_headers_on=bool(webhook.custom_headers),
            custom_headers=[Pair(k, v) for k, v in webhook.custom_headers.items()] or [Pair()],
            ordering=webhook.ordering,
        )

    @classmethod
    def parse(cls, form: FormData) -> WebhookForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        defaults = cls()
        return cls(
            product=text("product"),
            report_type=text("reportType"),
            method=text("method"),
            url=text("url"),
            waba_number=text("wabaNumber"),
            parameters={
                name: text(f"parameters.{name}") if f"parameters.{name}" in form else default
                for name, default in defaults.parameters.items()
            },
            custom_params_on=form.get("customParamsOn") == "on",
            custom_params=_pairs(form, "customParams"),
            custom_headers_on=form.get("customHeadersOn") == "on",
            custom_headers=_pairs(form, "customHeaders"),
            ordering=text("ordering") or defaults.ordering,
        )

    def add_row(self, section: str) -> None:
        """The no-script "Add more": one more empty row in that section."""
        if section == "customParams":
            self.custom_params_on = True
            self.custom_params.append(Pair())
        elif section == "customHeaders":
            self.custom_headers_on = True
            self.custom_headers.append(Pair())

    def spec(self) -> WebhookSpec:
        """The configuration to hand to the service; InvalidInput if the rows cannot be one."""
        problems: list[FieldError] = []
        custom_params = _mapping("customParams", self.custom_params, problems)
        custom_headers = _mapping("customHeaders", self.custom_headers, problems)
        if problems:
            raise InvalidInput(
                "; ".join(f"{p.field}: {p.message}" for p in problems), errors=problems
            )
        wanted = required_parameters(self.product, self.report_type)
        return WebhookSpec(
            product=self.product,
            report_type=self.report_type,
            method=self.method,
            url=self.url,
            waba_number=self.waba_number or None,
            parameters={name: self.parameters.get(name, "") for name in wanted},
            custom_params=custom_params if self.custom_params_on else {},
            custom_headers=custom_headers if self.custom_headers_on else {},
            ordering=self.ordering,
        )

    def shown_parameters(self) -> list[str]:
        return required_parameters(self.product, self.report_type)


def _pairs(form: FormData, section: str) -> list[Pair]:
    names = [v if isinstance(v, str) else "" for v in form.getlist(f"{section}.name")]
    values = [v if isinstance(v, str) else "" for v in form.getlist(f"{section}.value")]
    values += [""] * (len(names) - len(values))
    rows = [Pair(n.strip(), v) for n, v in zip(names, values, strict=False)]
    return rows or [Pair()]


def _mapping(section: str, rows: list[Pair], problems: list[FieldError]) -> dict[str, str]:
    """Rows as the `{name: value}` object the API takes. Blank rows are skipped; a name typed
    twice cannot be one object, so it is reported here (next to its row)."""
    result: dict[str, str] = {}
    for row in rows:
        if not row.name and not row.value:
            continue
        if row.name in result:
            problems.append(FieldError(f"{section}.{row.name}", "this name is used twice"))
        result[row.name] = row.value
    return result


def parse_since(raw: str, field_name: str = "since") -> datetime | None:
    """A `datetime-local` value (read as UTC) or ISO 8601; None when empty."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{field_name} is not a date and time",
            errors=[FieldError(field_name, "must be a date and time, e.g. 2026-04-09T10:30")],
        ) from None
    return as_utc(moment)


def local_input(moment: datetime | None) -> str:
    """`moment` as a `datetime-local` input value, in UTC."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


__all__ = [
    "METHODS",
    "METHOD_LABELS",
    "OFFERED_REPORT_TYPES",
    "ORDERING_LABELS",
    "PARAMETER_LABELS",
    "PRODUCTS",
    "PRODUCT_LABELS",
    "REPORT_LABELS",
    "REPORT_TYPES",
    "WABA_PRODUCTS",
    "Pair",
    "WebhookForm",
    "all_parameters",
    "applies_to",
    "local_input",
    "offering",
    "parse_since",
]
