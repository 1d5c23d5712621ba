from __future__ import annotations

import pytest

from dlrhub.domain.errors import (
    Conflict,
    DlrhubError,
    FieldError,
    InvalidInput,
    LimitReached,
    NotFound,
    OverLimit,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    Unprocessable,
)


@pytest.mark.parametrize(
    ("cls", "status", "title"),
    [
        (DlrhubError, 500, "Internal error"),
        (InvalidInput, 400, "Invalid request"),
        (Unauthorized, 401, "Unauthorized"),
        (NotFound, 404, "Not found"),
        (Conflict, 409, "Conflict"),
        (PayloadTooLarge, 413, "Payload too large"),
        (Unprocessable, 422, "Unprocessable request"),
    ],
)
def test_status_and_title(cls: type[DlrhubError], status: int, title: str) -> None:
    assert issubclass(cls, DlrhubError)
    assert cls.status == status
    assert cls.title == title
    error = cls("something went wrong")
    assert error.status == status
    assert error.detail == "something went wrong"
    assert str(error) == "something went wrong"
    assert error.errors == []


def test_errors_are_kept_and_copied() -> None:
    field_errors = [FieldError("destination", "must be an E.164 number")]
    error = InvalidInput("bad", errors=field_errors)
    field_errors.append(FieldError("body", "required"))
    assert error.errors == [FieldError("destination", "must be an E.164 number")]


def test_field_error_is_frozen() -> None:
    field_error = FieldError("a", "b")
    with pytest.raises(AttributeError):
        field_error.field = "c"  # type: ignore[misc]


def test_limit_errors_name_the_limit_and_its_value() -> None:
    reached = LimitReached("too many webhooks", limit="MAX_WEBHOOKS_PER_ACCOUNT", value=20)
    assert (reached.status, reached.title, reached.detail) == (
        422,
        "Limit reached",
        "too many webhooks",
    )
    assert (reached.limit, reached.value) == ("MAX_WEBHOOKS_PER_ACCOUNT", 20)
    limited = RateLimited("slow down", limit="TEST_RATE_PER_MINUTE", value=10, retry_after_s=7)
    assert (limited.status, limited.title, limited.detail) == (
        429,
        "Too many requests",
        "slow down",
    )
    assert (limited.limit, limited.value, limited.retry_after_s) == ("TEST_RATE_PER_MINUTE", 10, 7)
    assert isinstance(limited, OverLimit)
    assert isinstance(reached, OverLimit)
    assert limited.errors == []
    assert reached.errors == []
