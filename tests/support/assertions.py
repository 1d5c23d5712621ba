"""Checks of the shapes the contract promises: problem documents, UUIDs, timestamps."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

__all__ = ["ISO_Z", "PROBLEM_JSON", "assert_problem", "error_fields", "is_uuid"]

PROBLEM_JSON = "application/problem+json"
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with the expected status; returns its body."""
    assert response.status_code == status, (response.status_code, response.text)
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith(PROBLEM_JSON), content_type
    body = response.json()
    assert isinstance(body, dict)
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def error_fields(problem: dict[str, Any]) -> set[str]:
    """The `field` of each entry of a validation problem's `errors` list (which must exist)."""
    errors = problem.get("errors")
    assert isinstance(errors, list), problem
    assert errors, problem
    for entry in errors:
        assert set(entry) == {"field", "message"}, entry
        assert isinstance(entry["message"], str)
        assert entry["message"]
    return {str(entry["field"]) for entry in errors}


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
