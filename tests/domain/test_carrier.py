from __future__ import annotations

import pytest

from dlrhub.domain.carrier import (
    CarrierOutcome,
    outcome_of_receipt,
    outcome_of_report,
    outcome_of_status,
    parse_receipt,
    parse_tokens,
)
from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.status import MessageStatus

RECEIPT = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2604091030 done date:2604091031 "
    "stat:{stat} err:{err} text:Hello world"
)


@pytest.mark.parametrize(
    ("stat", "err", "status", "error"),
    [
        ("DELIVRD", "000", MessageStatus.DELIVERED, None),
        ("UNDELIV", "001", MessageStatus.ERROR, "carrier: UNDELIV (err 001)"),
        ("REJECTD", "000", MessageStatus.ERROR, "carrier: REJECTD"),
        ("DELETED", "000", MessageStatus.ERROR, "carrier: DELETED"),
        ("UNKNOWN", "000", MessageStatus.ERROR, "carrier: UNKNOWN"),
        ("EXPIRED", "000", MessageStatus.EXPIRED, "carrier: EXPIRED"),
        ("ENROUTE", "000", None, None),
        ("ACCEPTD", "000", None, None),
        ("delivrd", "000", MessageStatus.DELIVERED, None),
    ],
)
def test_receipt_states_map_to_statuses(
    stat: str, err: str, status: MessageStatus | None, error: str | None
) -> None:
    outcome = outcome_of_receipt(RECEIPT.format(stat=stat, err=err))
    assert outcome.status is status
    assert outcome.error == error


def test_receipt_fields_with_two_word_keys() -> None:
    fields = parse_receipt(RECEIPT.format(stat="DELIVRD", err="000"))
    assert fields["submit date"] == "2604091030"
    assert fields["done date"] == "2604091031"
    assert fields["text"] == "Hello world"


@pytest.mark.parametrize("receipt", ["", "id:1 stat:BOGUS", "no fields at all"])
def test_receipt_without_known_stat_is_refused(receipt: str) -> None:
    with pytest.raises(InvalidInput):
        outcome_of_receipt(receipt)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("DELIVERED", MessageStatus.DELIVERED),
        ("error", MessageStatus.ERROR),
        ("EXPIRED", MessageStatus.EXPIRED),
        ("READ", MessageStatus.READ),
    ],
)
def test_plain_statuses(status: str, expected: MessageStatus) -> None:
    assert outcome_of_status(status, None).status is expected


@pytest.mark.parametrize("status", ["SENT", "RECEIVED", "NOPE", ""])
def test_statuses_a_carrier_cannot_report(status: str) -> None:
    with pytest.raises(InvalidInput):
        outcome_of_status(status, None)


def test_tokens() -> None:
    assert parse_tokens("acme:secret-123, other:token-4567") == {
        "secret-123": "acme",
        "token-4567": "other",
    }
    assert parse_tokens("") == {}


@pytest.mark.parametrize("text", ["nocolon", "name:short", ":tokentoken"])
def test_malformed_tokens(text: str) -> None:
    with pytest.raises(ValueError, match="carrier token"):
        parse_tokens(text)


@pytest.mark.parametrize(
    ("status", "receipt", "error", "expected"),
    [
        ("DELIVERED", None, None, CarrierOutcome(MessageStatus.DELIVERED, None)),
        ("error", None, "busy", CarrierOutcome(MessageStatus.ERROR, "busy")),
        (
            None,
            RECEIPT.format(stat="UNDELIV", err="012"),
            "ignored for a receipt",
            CarrierOutcome(MessageStatus.ERROR, "carrier: UNDELIV (err 012)"),
        ),
        (None, RECEIPT.format(stat="ENROUTE", err="000"), None, CarrierOutcome(None, None)),
    ],
)
def test_a_report_is_a_status_or_a_receipt(
    status: str | None, receipt: str | None, error: str | None, expected: CarrierOutcome
) -> None:
    assert outcome_of_report(status=status, receipt=receipt, error=error) == expected


@pytest.mark.parametrize(
    ("status", "receipt"),
    [(None, None), ("DELIVERED", RECEIPT.format(stat="DELIVRD", err="000"))],
)
def test_a_report_with_both_or_neither_is_refused(status: str | None, receipt: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        outcome_of_report(status=status, receipt=receipt, error=None)
    assert caught.value.errors[0].field == "status"
    assert caught.value.errors[0].message == "give exactly one of status and receipt"


STATS = "DELIVRD, UNDELIV, REJECTD, DELETED, UNKNOWN, EXPIRED, ENROUTE, ACCEPTD"


@pytest.mark.parametrize(
    ("receipt", "detail"),
    [
        ("", "receipt has no known stat (got 'none')"),
        ("id:1 stat:bogus err:000", "receipt has no known stat (got 'BOGUS')"),
        ("id:1 err:000", "receipt has no known stat (got 'none')"),
    ],
)
def test_a_refused_receipt_says_why_in_the_problem_body(receipt: str, detail: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        outcome_of_receipt(receipt)
    assert caught.value.detail == detail
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("receipt", f"stat must be one of {STATS}")
    ]


@pytest.mark.parametrize(
    ("receipt", "error"),
    [
        ("id:1 stat:UNDELIV", "carrier: UNDELIV"),  # no err field at all
        ("id:1 stat:EXPIRED err:", "carrier: EXPIRED"),
        ("id:1 stat:REJECTD err:0B0", "carrier: REJECTD (err 0B0)"),
        ("id:1 stat:UNDELIV err:100", "carrier: UNDELIV (err 100)"),
    ],
)
def test_the_receipt_error_names_the_carrier_state_and_a_nonzero_err(
    receipt: str, error: str
) -> None:
    assert outcome_of_receipt(receipt).error == error


@pytest.mark.parametrize("status", ["SENT", "NOPE", ""])
def test_a_refused_status_lists_the_allowed_ones(status: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        outcome_of_status(status, "x")
    assert caught.value.detail == "status must be one of DELIVERED, ERROR, EXPIRED, READ"
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("status", "must be one of DELIVERED, ERROR, EXPIRED, READ")
    ]


def test_a_report_with_neither_says_so_in_the_detail() -> None:
    with pytest.raises(InvalidInput) as caught:
        outcome_of_report(status=None, receipt=None, error=None)
    assert caught.value.detail == "give exactly one of status and receipt"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme:12345678", {"12345678": "acme"}),  # eight characters is enough
        ("acme:abc:defgh", {"abc:defgh": "acme"}),  # a token may hold a colon
        (" acme : 12345678 ,", {"12345678": "acme"}),
    ],
)
def test_token_entries(text: str, expected: dict[str, str]) -> None:
    assert parse_tokens(text) == expected


@pytest.mark.parametrize("text", ["acme:1234567", "acme:        ", "  :12345678"])
def test_token_entries_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not name:token \(token ≥ 8 chars\)"):
        parse_tokens(text)
