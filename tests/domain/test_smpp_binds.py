"""`DLRHUB_SMPP_BINDS` (SPEC §11.2, issue 11): what a bind says, every mistake refused at
start-up with a message naming the bind (never its password), and `submit_sm` addressing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.smpp_binds import SmppBind, destination_address, parse_binds, source_address
from dlrhub.domain.smpp_receipts import ReceiptIds


def test_a_bind_with_its_defaults() -> None:
    assert parse_binds("smpp://esme:secret@smsc.example:2775") == [
        SmppBind(host="smsc.example", port=2775, system_id="esme", password="secret", tls=False)
    ]


def test_every_setting_and_tls() -> None:
    (bind,) = parse_binds(
        "smpps://esme:s%40cret@10.0.0.5:3550?system_type=VMA&sessions=3&window=20&rate=100"
        "&source_ton=5&source_npi=0&dest_ton=1&dest_npi=1&receipt_ids=hex"
    )
    assert bind == SmppBind(
        host="10.0.0.5",
        port=3550,
        system_id="esme",
        password="s@cret",  # percent-decoded
        tls=True,
        system_type="VMA",
        sessions=3,
        window=20,
        rate=100,
        source_ton=5,
        source_npi=0,
        dest_ton=1,
        dest_npi=1,
        receipt_ids=ReceiptIds.HEX,
    )
    assert bind.name == "esme@10.0.0.5:3550"


def test_several_binds_and_stray_commas() -> None:
    binds = parse_binds(" smpp://a:pw@h1:1, ,smpps://b:pw@h2:2 ,")
    assert [(b.system_id, b.host, b.port, b.tls) for b in binds] == [
        ("a", "h1", 1, False),
        ("b", "h2", 2, True),
    ]
    assert parse_binds("") == []


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("http://esme:pw@h:2775", "scheme must be smpp:// or smpps://"),
        ("smpp://esme:pw@:2775", "no host"),
        ("smpp://esme:pw@h", "port must be 1 to 65535"),
        ("smpp://esme:pw@h:0", "port must be 1 to 65535"),
        ("smpp://esme:pw@h:70000", "port must be 1 to 65535"),
        ("smpp://esme:pw@h:27x5", "port must be 1 to 65535"),
        ("smpp://:pw@h:2775", "system id must be 1 to 15"),
        ("smpp://esme@h:2775", "password must be 1 to 8"),
        ("smpp://esme:123456789@h:2775", "password must be 1 to 8"),
        ("smpp://" + "e" * 16 + ":pw@h:2775", "system id must be 1 to 15"),
        ("smpp://es%00me:pw@h:2775", "system id must be 1 to 15 printable"),
        ("smpp://es\ud800me:pw@h:2775", "system id must be 1 to 15 printable"),  # lone surrogate
        ("smpp://esme:p%ED%A0%80@h:2775", "password must be 1 to 8 printable"),  # encoded one
        ("smpp://esme:pw@h:2775?system_type=\ud800", "system_type is at most 12"),
        ("smpp://esme:pw@h:2775?system_type=%ED%A0%80", "the settings are not UTF-8 text"),
        ("smpp://esme:pw@h:2775?window=" + "9" * 5000, "window must be a number"),
        ("smpp://esme:pw@h:2775?window=0", "window must be a number from 1 to 1000"),
        ("smpp://esme:pw@h:2775?window=ten", "window must be a number from 1 to 1000"),
        ("smpp://esme:pw@h:2775?window=-1", "window must be a number from 1 to 1000"),
        ("smpp://esme:pw@h:2775?sessions=65", "sessions must be a number from 1 to 64"),
        ("smpp://esme:pw@h:2775?rate=%EF%BC%95", "rate must be a number"),  # full-width 5
        ("smpp://esme:pw@h:2775?source_ton=7", "source_ton must be a number from 0 to 6"),
        ("smpp://esme:pw@h:2775?receipt_ids=oct", "receipt_ids is auto, hex or dec"),
        ("smpp://esme:pw@h:2775?system_type=" + "x" * 13, "system_type is at most 12"),
        ("smpp://esme:pw@h:2775?windows=3", "unknown setting 'windows'"),
        ("smpp://esme:pw@h:2775?window=3&window=4", "window is given twice"),
    ],
)
def test_mistakes_are_refused_by_name(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        parse_binds(setting)
    assert "smpp" in str(refused.value)
    assert "pw" not in str(refused.value).replace("smpps", "")  # never the password


@given(st.text(max_size=80))
def test_any_setting_is_a_bind_list_or_a_value_error(setting: str) -> None:
    try:
        binds = parse_binds(setting)
    except ValueError:
        return
    assert all(isinstance(bind, SmppBind) for bind in binds)


BIND = SmppBind(host="h", port=1, system_id="s", password="p", tls=False)


@pytest.mark.parametrize(
    ("sender", "bind", "expected"),
    [
        ("+393401234567", BIND, ("393401234567", 1, 1)),
        ("393401234567", BIND, ("393401234567", 1, 1)),
        ("ACME", BIND, ("ACME", 5, 0)),
        ("Acme 24", BIND, ("Acme 24", 5, 0)),
        ("١٢٣", BIND, ("١٢٣", 5, 0)),  # Arabic-Indic digits are not an international number
        ("ACME", SmppBind("h", 1, "s", "p", False, source_ton=0, source_npi=1), ("ACME", 0, 1)),
    ],
)
def test_source_address(sender: str, bind: SmppBind, expected: tuple[str, int, int]) -> None:
    assert source_address(sender, bind) == expected


def test_destination_address() -> None:
    assert destination_address("+393401234567", BIND) == ("393401234567", 1, 1)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("smpp://esme:pw@h:27x5", "SMPP bind smpp://h:?: the port must be 1 to 65535"),
        ("smpp://esme:pw@:2775", "SMPP bind smpp://?:2775: no host"),
        ("smpp://esme:pw@h:2775?window=", "SMPP bind smpp://h:2775: window must be a number"),
    ],
)
def test_the_message_names_the_bind_exactly(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^SMPP bind ") as refused:
        parse_binds(setting)
    assert str(refused.value).startswith(message)


def test_the_highest_values_are_allowed_and_empty_query_fields_ignored() -> None:
    (bind,) = parse_binds("smpp://esme:pw@h:2775?&window=1000&sessions=64&rate=10000&")
    assert (bind.window, bind.sessions, bind.rate) == (1000, 64, 10_000)


def test_a_fixed_npi_of_zero_applies_to_numbers_too() -> None:
    bind = SmppBind("h", 1, "s", "p", False, source_npi=0)
    assert source_address("+393401234567", bind) == ("393401234567", 1, 0)
