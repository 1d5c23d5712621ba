"""Refuses client text that cannot be stored, for every route at once (SPEC §1).

One check in front of the routes, so no handler, service or query ever sees a lone surrogate
or a NUL: a path holding one is `404` (no resource can have that name), a query parameter,
a JSON value or key, or a form field holding one is `400` naming it. The rule itself is
`dlrhub.domain.text`.
"""

from __future__ import annotations

import email.message
import json
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dlrhub.api.problems import problem_response
from dlrhub.domain.errors import FieldError
from dlrhub.domain.text import MAX_REPORTED, document_problems, text_problem

__all__ = ["StorableText"]

_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
# Percent-encoded bytes that are not UTF-8, e.g. `%ED%A0%80` (a lone surrogate, encoded).
NOT_UTF8_PROBLEM = "must be valid UTF-8 text"


class StorableText:
    """ASGI middleware; runs inside BodyLimit, so the bodies it reads are already limited."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if not _path_is_text(scope):
            response = problem_response(404, "Not found", "no resource has this path")
            await response(scope, receive, send)
            return
        problems = pairs_problems(scope.get("query_string", b""))
        kind = _body_kind(scope)
        if problems or kind is None:
            await self._answer(scope, receive, send, problems)
            return
        try:
            body = await _read_body(receive)
        except HTTPException as exc:  # BodyLimit's 413, raised here instead of in a route
            response = problem_response(exc.status_code, "Payload too large", str(exc.detail))
            await response(scope, receive, send)
            return
        if body is None:  # the client went away
            return
        problems = await _body_problems(kind, body, scope, _replaying(body, receive))
        # The routes read the body again, from the start.
        await self._answer(scope, _replaying(body, receive), send, problems)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, problems: list[FieldError]
    ) -> None:
        if not problems:
            await self._app(scope, receive, send)
            return
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
        response = problem_response(400, "Invalid request", detail, problems)
        await response(scope, receive, send)


def _path_is_text(scope: Scope) -> bool:
    """Whether the path, percent-decoded, is storable UTF-8 text. Servers decode invalid
    UTF-8 to U+FFFD in `path`, so the raw path is what tells."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        try:
            decoded = unquote_to_bytes(raw.split(b"?", 1)[0]).decode("utf-8")
        except UnicodeDecodeError:
            return False
        if text_problem(decoded) is not None:
            return False
    path = scope.get("path", "")
    return isinstance(path, str) and text_problem(path) is None


def pairs_problems(raw: bytes) -> list[FieldError]:
    """The parameters of a query string or urlencoded form that are not storable text,
    percent-decoded strictly (`%ED%A0%80`, an encoded lone surrogate, is not UTF-8)."""
    problems: list[FieldError] = []
    for pair in raw.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        name = unquote_to_bytes(raw_name.replace(b"+", b" ")).decode("utf-8", "replace")
        for part, what in ((raw_name, "name"), (raw_value, "")):
            problem = _encoded_text_problem(part)
            if problem is not None:
                message = f"{what} {problem}".strip()
                problems.append(FieldError(name or "query", message))
                break
        if len(problems) >= MAX_REPORTED:
            break
    return problems


def _encoded_text_problem(raw: bytes) -> str | None:
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8_PROBLEM
    return text_problem(text)


# Bodies signed by Meta and Google are read raw by their routes (the signature is over the
# exact bytes) and their texts checked one by one by the ingest: refusing a whole batch for
# one odd character would make the provider resend it for days.
RAW_BODY_PATHS = frozenset({"/carrier/v1/whatsapp", "/carrier/v1/rbm"})


def _body_kind(scope: Scope) -> str | None:
    """Which body parser the routes will use: "json", "form", "multipart", or None (no text)."""
    if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return None
    if scope.get("path") in RAW_BODY_PATHS:
        return None
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
    if not content_type:
        return "json"  # FastAPI reads a body without a content type as JSON
    parsed = email.message.Message()
    parsed["content-type"] = content_type
    media = parsed.get_content_type()
    if media == _FORM:
        return "form"
    if media == _MULTIPART:
        return "multipart"
    if parsed.get_content_maintype() == "application":
        subtype = parsed.get_content_subtype()
        if subtype == "json" or subtype.endswith("+json"):
            return "json"
    return None


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body over once, then waits as the real one."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _body_problems(
    kind: str, body: bytes, scope: Scope, receive: Receive
) -> list[FieldError]:
    if not body:
        return []
    if kind == "form":
        return pairs_problems(body)
    if kind == "multipart":
        return await _multipart_problems(scope, receive)
    if not _may_hold_unstorable_json(body):
        return []
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON: the route answers that with its own 400
    return document_problems(document)


def _may_hold_unstorable_json(body: bytes) -> bool:
    """A cheap pre-check: in UTF-8 JSON, NUL or a lone surrogate can only come from a `\\u`
    escape or from the bytes ED A0-BF (decoded "surrogatepass"); raw control characters are
    invalid JSON. Other encodings are always parsed."""
    if json.detect_encoding(body) != "utf-8":
        return True
    return b"\\u" in body or b"\xed" in body


async def _multipart_problems(scope: Scope, receive: Receive) -> list[FieldError]:
    problems: list[FieldError] = []
    try:
        async with Request(scope, receive).form() as form:
            for name, value in form.multi_items():
                for text, what in ((name, "name"), (value, "")):
                    problem = text_problem(text) if isinstance(text, str) else None
                    if problem is not None:
                        problems.append(FieldError(name, f"{what} {problem}".strip()))
                        break
    except (HTTPException, MultiPartException, ValueError, KeyError):
        return []  # not a form the routes can read either: they refuse it themselves
    return problems[:MAX_REPORTED]
