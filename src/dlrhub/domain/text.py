"""Which client text can be stored: one rule for every field of every request (SPEC §1).

SQLite and PostgreSQL store text as UTF-8, and PostgreSQL refuses NUL in text. A lone
surrogate (JSON's `"\\ud800"`, or the bytes ED A0 80 percent-encoded) has no UTF-8 form, and
NUL has no place in any field dlrhub keeps, so text holding either is refused wherever it comes
from, before it can reach a query, a log line or a response body.
"""

from __future__ import annotations

from collections.abc import Iterator

from dlrhub.domain.errors import FieldError

__all__ = [
    "MAX_REPORTED",
    "NUL_PROBLEM",
    "SURROGATE_PROBLEM",
    "document_problems",
    "is_storable",
    "is_xml_char",
    "printable",
    "text_problem",
]

NUL_PROBLEM = "must not contain NUL characters"
SURROGATE_PROBLEM = "must be valid Unicode text (it holds a lone surrogate such as \\ud800)"
# A hostile body can hold thousands of bad strings; the first few say enough.
MAX_REPORTED = 20


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return NUL_PROBLEM
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_PROBLEM
    return None


def is_storable(value: str) -> bool:
    return text_problem(value) is None


def is_xml_char(ch: str) -> bool:
    """Whether the character `ch` may appear in an XML 1.0 document: the `Char` production
    (tab, line feed, carriage return, and U+0020 up to U+10FFFF without the surrogates,
    U+FFFE and U+FFFF). A richer webhook's value must be one that every format can carry."""
    cp = ord(ch)
    return (
        cp in (0x9, 0xA, 0xD)
        or 0x20 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


def printable(value: str) -> str:
    """`value` with each lone surrogate replaced by U+FFFD, so that it can be echoed in a
    response (a field name, an id in a message) without failing to encode."""
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def document_problems(document: object, limit: int = MAX_REPORTED) -> list[FieldError]:
    """Every string (value or object key) of a parsed JSON document that cannot be stored,
    named by its path (`body`, `parameters.foo`, `items.0`); at most `limit` of them."""
    problems: list[FieldError] = []
    for path, text, is_key in _strings(document):
        problem = text_problem(text)
        if problem is None:
            continue
        field = ".".join(printable(p) for p in path) or "body"
        problems.append(FieldError(field, f"name {problem}" if is_key else problem))
        if len(problems) >= limit:
            break
    return problems


def _strings(document: object) -> Iterator[tuple[list[str], str, bool]]:
    """(path, text, is_key) for each string in `document`, depth first. An explicit stack:
    a document nested thousands deep must not exhaust the interpreter's recursion limit."""
    stack: list[tuple[list[str], object]] = [([], document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node, False
        elif isinstance(node, dict):
            children = list(node.items())
            for key, _ in children:
                yield [*path, str(key)], str(key), True
            stack.extend(([*path, str(key)], value) for key, value in reversed(children))
        elif isinstance(node, list):
            stack.extend(([*path, str(i)], item) for i, item in reversed(list(enumerate(node))))
