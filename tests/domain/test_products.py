"""What each product takes (SPEC §8): one rule for the API's check and the dashboard's form."""

from __future__ import annotations

import pytest

from dlrhub.dashboard import forms
from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.routing import ReportType
from dlrhub.domain.status import Channel
from dlrhub.domain.urlpolicy import UrlPolicy
from dlrhub.domain.webhook_rules import (
    PRODUCTS,
    REPORT_TYPES,
    WebhookSpec,
    check_webhook,
    offered_report_types,
    required_parameters,
    takes_waba_number,
)

NUMBER = "+393409876543"

# (product, report type, offered, a business number allowed)
TABLE = [
    ("SMS", "DLR", True, False),
    ("SMS", "MO", False, False),
    ("WHATSAPP", "DLR", True, True),
    ("WHATSAPP", "MO", True, True),
    ("RCS", "DLR", True, False),
    ("RCS", "MO", True, False),
]


def test_products_and_report_types_are_the_enums() -> None:
    assert tuple(Channel) == PRODUCTS
    assert tuple(ReportType) == REPORT_TYPES
    assert list(PRODUCTS) == ["SMS", "WHATSAPP", "RCS"]
    assert list(REPORT_TYPES) == ["DLR", "MO"]


@pytest.mark.parametrize(("product", "report_type", "offered", "number"), TABLE)
def test_the_rule(product: str, report_type: str, offered: bool, number: bool) -> None:
    assert (report_type in offered_report_types(product)) is offered
    assert takes_waba_number(product) is number


@pytest.mark.parametrize(("product", "report_type", "offered", "number"), TABLE)
def test_the_form_offers_what_the_rule_allows(
    product: str, report_type: str, offered: bool, number: bool
) -> None:
    assert (report_type in forms.OFFERED_REPORT_TYPES[product]) is offered
    assert (product in forms.offering(report_type)) is offered
    assert (product in forms.WABA_PRODUCTS) is number


@pytest.mark.parametrize(("product", "report_type", "offered", "number"), TABLE)
def test_the_check_refuses_what_the_rule_does_not_allow(
    product: str, report_type: str, offered: bool, number: bool
) -> None:
    names = required_parameters(product, report_type)
    spec = WebhookSpec(
        product=product,
        report_type=report_type,
        method="POST",
        url="https://hooks.example.com/dlr",
        waba_number=NUMBER,
        parameters={name: name for name in names},
    )
    try:
        check_webhook(spec, waba_numbers={NUMBER}, policy=UrlPolicy())
        fields: dict[str, str] = {}
    except InvalidInput as exc:
        fields = {error.field: error.message for error in exc.errors}
    if offered:
        assert "reportType" not in fields
    else:
        assert fields["reportType"] == f"{report_type} is not available for {product}"
    if number:
        assert "wabaNumber" not in fields
    else:
        assert fields["wabaNumber"] == "is only for WHATSAPP webhooks"


def test_an_unknown_product_is_refused_on_its_own() -> None:
    assert offered_report_types("FAX") == REPORT_TYPES
    assert not takes_waba_number("FAX")
