"""The storable-text rule (SPEC §1): one function decides for every field of every request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.errors import FieldError
from dlrhub.domain.text import (
    MAX_REPORTED,
    NUL_PROBLEM,
    SURROGATE_PROBLEM,
    document_problems,
    is_storable,
    printable,
    text_problem,
)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", None),
        ("hello", None),
        ("ordine-città ✓ 👍", None),
        ("\ufffd", None),
        ("tab\tnewline\n\x7f", None),  # other controls are each field's own business
        ("\x00", NUL_PROBLEM),
        ("a\x00b", NUL_PROBLEM),
        ("\ud800", SURROGATE_PROBLEM),
        ("a\udfffb", SURROGATE_PROBLEM),
        ("\ud83d\ude00", SURROGATE_PROBLEM),  # a pair, but as two code points: not UTF-8
        ("\x00\ud800", NUL_PROBLEM),
    ],
)
def test_text_problem(value: str, problem: str | None) -> None:
    assert text_problem(value) == problem
    assert is_storable(value) is (problem is None)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "plain"),
        ("a\ud800b", "a\ufffdb"),
        ("\udfff", "\ufffd"),
        ("👍", "👍"),
    ],
)
def test_printable_replaces_lone_surrogates(value: str, shown: str) -> None:
    assert printable(value) == shown
    assert printable(value).encode("utf-8")


@pytest.mark.parametrize(
    ("document", "problems"),
    [
        ({"body": "hi", "n": 1, "ok": True, "none": None}, []),
        ("\ud800", [FieldError("body", SURROGATE_PROBLEM)]),
        ({"body": "a\x00"}, [FieldError("body", NUL_PROBLEM)]),
        (
            {"destination": "\ud800", "body": "\x00"},
            [
                FieldError("destination", SURROGATE_PROBLEM),
                FieldError("body", NUL_PROBLEM),
            ],
        ),
        ({"parameters": {"foo": "\x00"}}, [FieldError("parameters.foo", NUL_PROBLEM)]),
        (
            {"customHeaders": {"X-\x00": "v"}},
            [FieldError("customHeaders.X-\x00", f"name {NUL_PROBLEM}")],
        ),
        (
            {"customParams": {"\ud800": "v"}},
            [FieldError("customParams.\ufffd", f"name {SURROGATE_PROBLEM}")],
        ),
        ({"items": ["ok", ["\x00"]]}, [FieldError("items.1.0", NUL_PROBLEM)]),
        (["\x00"], [FieldError("0", NUL_PROBLEM)]),
    ],
)
def test_document_problems_name_each_field(document: Any, problems: list[FieldError]) -> None:
    assert document_problems(document) == problems


def test_document_problems_survive_deep_nesting_and_stop_at_the_limit() -> None:
    deep: Any = "\x00"
    for _ in range(10_000):
        deep = [deep]
    assert document_problems(deep) == [FieldError(".".join(["0"] * 10_000), NUL_PROBLEM)]
    many = {f"k{i}": "\x00" for i in range(MAX_REPORTED * 3)}
    assert len(document_problems(many)) == MAX_REPORTED


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_storable_is_exactly_what_utf8_and_postgresql_text_take(value: str) -> None:
    try:
        value.encode("utf-8")
        encodable = True
    except UnicodeEncodeError:
        encodable = False
    assert is_storable(value) is (encodable and "\x00" not in value)


_ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=4)


@given(
    st.recursive(
        _ANY_TEXT | st.integers(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ANY_TEXT, inner, max_size=3),
        max_leaves=8,
    )
)
def test_a_document_without_problems_encodes(document: Any) -> None:
    if not document_problems(document, limit=10**6):
        json.dumps(document, ensure_ascii=False).encode("utf-8")
        assert "\\u0000" not in json.dumps(document)
