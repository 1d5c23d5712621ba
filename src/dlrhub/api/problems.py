"""Errors as RFC 9457 problem documents; the only place errors become HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dlrhub.domain.errors import DlrhubError, FieldError, OverLimit, RateLimited
from dlrhub.domain.text import printable

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class ProblemField(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemField] = []


def problem_response(
    status: int,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    *,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    # Texts may quote what the client sent: a lone surrogate in them must not fail encoding.
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": printable(detail),
    }
    if errors:
        body["errors"] = [
            {"field": printable(e.field), "message": printable(e.message)} for e in errors
        ]
    body.update(extensions or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[FieldError] = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "not valid JSON")
            errors.append(FieldError("body", f"malformed JSON: {reason}"))
        else:
            errors.append(FieldError(_field_name(tuple(error.get("loc", ()))), error["msg"]))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"
    return problem_response(400, "Invalid request", detail, errors)


async def _on_dlrhub_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DlrhubError)
    if isinstance(exc, OverLimit):
        return _over_limit(exc)
    return problem_response(exc.status, exc.title, exc.detail, exc.errors)


def _over_limit(exc: OverLimit) -> JSONResponse:
    """A per-account limit (SPEC §14): the body names the limit and its value (RFC 9457
    extension members), and a rate limit says when to retry, in the body and in Retry-After."""
    extensions: dict[str, Any] = {"limit": exc.limit, "value": exc.value}
    if isinstance(exc, RateLimited):
        extensions["retryAfter"] = exc.retry_after_s
    response = problem_response(exc.status, exc.title, exc.detail, extensions=extensions)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    titles = {
        401: "Unauthorized",
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
    }
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    response = problem_response(exc.status_code, titles.get(exc.status_code, "Error"), detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return problem_response(500, "Internal error", "an unexpected error occurred; it was logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(DlrhubError, _on_dlrhub_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
    _document_problems(app)


_PROBLEM_REF = "#/components/schemas/Problem"
_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema say what the handlers above do: errors are problem+json (FastAPI
    files a response model under application/json), and invalid input is a 400 problem, never
    FastAPI's default 422 HTTPValidationError."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                _fix_responses(operation.get("responses", {}))
        schemas = schema.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _fix_responses(responses: dict[str, Any]) -> None:
    default_422 = responses.get("422", {}).get("content", {}).get("application/json", {})
    if default_422.get("schema", {}).get("$ref") == _VALIDATION_REF:
        del responses["422"]
        responses.setdefault(
            "400",
            {
                "description": "Invalid request (problem+json, with per-field errors)",
                "content": {"application/json": {"schema": {"$ref": _PROBLEM_REF}}},
            },
        )
    for status, response in responses.items():
        content = response.get("content", {})
        plain = content.get("application/json", {})
        if status[:1] in ("4", "5") and plain.get("schema", {}).get("$ref") == _PROBLEM_REF:
            content[PROBLEM_JSON] = content.pop("application/json")


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413, whether announced or streamed."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self._app = app
        self._default = max_bytes
        # Paths allowed more (the providers' batches), exactly as they are routed.
        self._larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._larger.get(scope.get("path", ""), self._default)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # An HTTPException, so the framework's body parsing lets it through as is.
                raise HTTPException(413, f"request bodies are limited to {limit} bytes")
            return message

        await self._app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            413, "Payload too large", f"request bodies are limited to {limit} bytes"
        )
        await response(scope, receive, send)
