from __future__ import annotations

import pytest

from dlrhub.domain.customer_ids import check_customer_message_id, check_sender
from dlrhub.domain.errors import FieldError, InvalidInput


@pytest.mark.parametrize(
    "value",
    [
        "order-12345",
        "a",
        "x" * 64,
        "4f1c7a2e-0000-4000-8000-000000000001",
        "ORDER_1.2:3@shop",
        "ordine-città",
    ],
)
def test_customer_message_id_accepted(value: str) -> None:
    assert check_customer_message_id(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "must not be empty"),
        ("x" * 65, "must be at most 64 characters"),
        ("a,b", "must not contain a comma"),
        ("a/b", "must not contain a slash"),
        ("a b", "must not contain whitespace or control characters"),
        (" a", "must not contain whitespace or control characters"),
        ("a\tb", "must not contain whitespace or control characters"),
        ("a\nb", "must not contain whitespace or control characters"),
        ("a\x00b", "must not contain whitespace or control characters"),
        ("a\x7fb", "must not contain whitespace or control characters"),
        ("a\u00a0b", "must not contain whitespace or control characters"),
        ("a\u200bb", "must not contain whitespace or control characters"),
        ("a\ud800b", "must not contain whitespace or control characters"),
    ],
)
def test_customer_message_id_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        check_customer_message_id(value)
    assert excinfo.value.errors == [FieldError("messageId", message)]


def test_customer_message_id_field_name() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        check_customer_message_id("", field="customerMessageIds")
    assert excinfo.value.errors[0].field == "customerMessageIds"


@pytest.mark.parametrize(
    "value",
    [
        "+393401234567",  # E.164
        "123",  # short codes
        "12345",
        "123456789012345",
        "ACME",  # alphanumeric ids
        "A",
        "Acme Shop",
        "acme.it",
        "ACME-IT_01",
        "1234567890A",  # 11 characters
        "1A",
        "Shop2Go",
    ],
)
def test_sender_accepted(value: str) -> None:
    assert check_sender(value) == value


E164_MESSAGE = "must be an E.164 number such as +393401234567"
SHORT_CODE_MESSAGE = "a numeric sender must be a short code of 3 to 15 digits"
ALNUM_MESSAGE = (
    "an alphanumeric sender must be 1 to 11 characters from letters, digits, "
    "space, '.', '-' and '_', with at least one letter"
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("+0393401234567", E164_MESSAGE),
        ("+1234", E164_MESSAGE),
        ("+ACME", E164_MESSAGE),
        ("12", SHORT_CODE_MESSAGE),
        ("1234567890123456", SHORT_CODE_MESSAGE),
        ("", ALNUM_MESSAGE),
        ("ACMECORPORATION", ALNUM_MESSAGE),  # 15 characters
        ("12345678901A", ALNUM_MESSAGE),  # 12 characters
        ("123-456", ALNUM_MESSAGE),  # no letter
        ("...", ALNUM_MESSAGE),
        ("ACME!", ALNUM_MESSAGE),
        ("ACME,IT", ALNUM_MESSAGE),
        ("Città", ALNUM_MESSAGE),
        ("ACME\n", ALNUM_MESSAGE),
        ("١٢٣", ALNUM_MESSAGE),  # non-ASCII digits are not a short code
    ],
)
def test_sender_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        check_sender(value)
    assert excinfo.value.errors == [FieldError("sender", message)]


def test_sender_field_name() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        check_sender("!", field="phoneNumberId")
    assert excinfo.value.errors[0].field == "phoneNumberId"


def test_refusals_say_which_field_in_the_detail() -> None:
    with pytest.raises(InvalidInput) as bad_id:
        check_customer_message_id("a,b", "ids")
    assert bad_id.value.detail == "ids must not contain a comma"
    with pytest.raises(InvalidInput) as bad_sender:
        check_sender("+0", "from")
    assert bad_sender.value.detail == "from is not a valid sender"
