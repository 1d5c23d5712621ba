"""One XML 1.0 `Char` rule for both the value check of a richer webhook and the XML format.

The two used to hold copies that disagreed on CR and on the upper bound; the table holds the
edges of every range of the production and the characters where the copies differed.
"""

from __future__ import annotations

import pytest

from dlrhub.domain.formats import xml_text
from dlrhub.domain.text import is_xml_char
from dlrhub.domain.webhook_rules import value_problem

CHARS = [
    ("\x00", False),
    ("\x08", False),
    ("\t", True),
    ("\n", True),
    ("\x0b", False),
    ("\x0c", False),
    ("\r", True),
    ("\x1f", False),
    (" ", True),
    ("~", True),
    ("\x7f", True),
    ("\ud7ff", True),
    ("\ud800", False),
    ("\udfff", False),
    ("\ue000", True),
    ("\ufffd", True),
    ("\ufffe", False),
    ("\uffff", False),
    ("\U00010000", True),
    ("\U0010ffff", True),
]


@pytest.mark.parametrize(("ch", "allowed"), CHARS)
def test_the_char_production(ch: str, allowed: bool) -> None:
    assert is_xml_char(ch) is allowed


@pytest.mark.parametrize(("ch", "allowed"), CHARS)
def test_a_custom_value_holds_only_xml_chars(ch: str, allowed: bool) -> None:
    assert (value_problem(f"a{ch}b") is None) is allowed


@pytest.mark.parametrize(("ch", "allowed"), CHARS)
def test_the_xml_format_keeps_xml_chars_and_replaces_the_rest(ch: str, allowed: bool) -> None:
    kept = f"a{ch}b" if allowed else "a\ufffdb"
    # CR is a Char, but a parser would turn a literal CR into LF: it is sent as a reference.
    assert xml_text(f"a{ch}b") == ("a&#13;b" if ch == "\r" else kept)
