"""Project error hierarchy.

Each error carries the HTTP status and problem title it maps to, so the API layer can
render any of them as an RFC 9457 problem document without a lookup table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Conflict",
    "DlrhubError",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "LimitReached",
    "NotFound",
    "OverLimit",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthorized",
    "Unprocessable",
]


@dataclass(frozen=True)
class FieldError:
    """One validation problem, reported as an entry of the problem's ``errors`` list."""

    field: str
    message: str


class DlrhubError(Exception):
    """Base of every error the project raises on purpose."""

    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        # Copy so that callers mutating their own list later cannot alter the error.
        self.errors: list[FieldError] = list(errors) if errors else []


class InvalidInput(DlrhubError):
    status = 400
    title = "Invalid request"


class Unauthorized(DlrhubError):
    status = 401
    title = "Unauthorized"


class Forbidden(DlrhubError):
    status = 403
    title = "Forbidden"


class NotFound(DlrhubError):
    status = 404
    title = "Not found"


class Conflict(DlrhubError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(DlrhubError):
    status = 413
    title = "Payload too large"


class Unprocessable(DlrhubError):
    status = 422
    title = "Unprocessable request"


class OverLimit(DlrhubError):
    """A per-account limit (SPEC §14) refused the request: the problem body names the limit
    (its setting, without the DLRHUB_ prefix) and its value."""

    def __init__(self, detail: str, *, limit: str, value: int) -> None:
        super().__init__(detail)
        self.limit = limit
        self.value = value


class LimitReached(OverLimit):
    """A count limit: creating one more is refused until one is removed."""

    status = 422
    title = "Limit reached"


class RateLimited(OverLimit):
    """A rate or concurrency limit: the same request may succeed after `retry_after_s`."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, limit: str, value: int, retry_after_s: int) -> None:
        super().__init__(detail, limit=limit, value=value)
        self.retry_after_s = retry_after_s
