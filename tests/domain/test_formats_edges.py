"""Edges of the richer-webhook formats (SPEC §8) the main table does not reach: a URL that
already has a query with '?' in it, text no format can carry, an MO request, a bad method."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest

from dlrhub.domain.formats import format_request, mo_values, richer_request
from dlrhub.domain.signing import new_secret

AT = datetime(2026, 4, 9, 10, 30, tzinfo=UTC)
PARAMS = {"messageId": "id", "mobileNumber": "from", "text": "body"}


def _format(method: str, url: str, text: str) -> tuple[str, bytes, bytes]:
    values = {"messageId": "m-1", "mobileNumber": "+393401234567", "text": text}
    formatted = format_request(
        method=method,
        url=url,
        report_type="MO",
        values=values,
        parameters=PARAMS,
        custom_params={},
    )
    return formatted.url, formatted.body, formatted.signed_content


def test_get_signs_everything_after_the_first_question_mark() -> None:
    target, body, signed = _format("GET", "https://crm.example.com/mo?next=a?b", "hi")
    assert body == b""
    assert target.startswith("https://crm.example.com/mo?next=a?b&")
    assert signed == target.split("?", 1)[1].encode()
    assert dict(parse_qsl(signed.decode()))["next"] == "a?b"


def test_lone_surrogates_become_replacement_characters_and_nothing_else_changes() -> None:
    _, body, signed = _format("JSON", "https://crm.example.com/mo", "a\ud800b\udfffc\ue000")
    assert json.loads(body) == {
        "id": "m-1",
        "from": "+393401234567",
        "body": "a\ufffdb\ufffdc\ue000",
    }
    assert signed == body


def test_an_unknown_method_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^unknown send method 'PUT'$"):
        _format("PUT", "https://crm.example.com/mo", "hi")


def test_an_mo_request_carries_the_mo_parameters() -> None:
    request = richer_request(
        method="JSON",
        url="https://crm.example.com/mo",
        report_type="MO",
        values=mo_values(message_id="m-1", source="+393401234567", text="Sì", received_at=AT),
        parameters={**PARAMS, "messageType": "kind"},
        custom_params={},
        custom_headers={},
        event_id="evt_1",
        secrets=[new_secret(bytes(32))],
        timestamp=1_700_000_000,
        user_agent="dlrhub/test",
    )
    assert json.loads(request.body) == {
        "id": "m-1",
        "from": "+393401234567",
        "body": "Sì",
        "kind": "TEXT",
    }


def test_a_value_the_event_does_not_have_is_sent_empty() -> None:
    formatted = format_request(
        method="JSON",
        url="https://crm.example.com/mo",
        report_type="MO",
        values={"messageId": "m-1"},
        parameters=PARAMS,
        custom_params={},
    )
    assert json.loads(formatted.body) == {"id": "m-1", "from": "", "body": ""}
