"""The WhatsApp Cloud API in our words (SPEC §11.3, CARRIER-NOTES; issue 12): what Meta's answers
to a send mean, how its notifications are signed, and what they say. Bodies are shaped as Meta's
webhook reference shows them (timestamps as strings of unix seconds, ids as strings)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.status import MessageStatus
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.domain.whatsapp import (
    InboundMessage,
    Notification,
    StatusUpdate,
    error_text,
    read_notification,
    signature_matches,
    submit_answer,
)

SECRET = "app-secret-7f3a"
PHONE_NUMBER_ID = "106540352242922"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"


@pytest.mark.parametrize(
    ("http_status", "code", "answer"),
    [
        # Not now (CARRIER-NOTES): throughput, same pair too fast, app call limit, WABA rate
        # limit, generic; spam/quality and per-user marketing limits lift later too.
        (400, 130429, SubmitAnswer.TRY_LATER),
        (429, 130429, SubmitAnswer.TRY_LATER),
        (400, 131056, SubmitAnswer.TRY_LATER),
        (400, 4, SubmitAnswer.TRY_LATER),
        (400, 80007, SubmitAnswer.TRY_LATER),
        (500, 131000, SubmitAnswer.TRY_LATER),
        (400, 131000, SubmitAnswer.TRY_LATER),  # branched on the code, not on the HTTP status
        (400, 131048, SubmitAnswer.TRY_LATER),
        (400, 131049, SubmitAnswer.TRY_LATER),
        # Refused for good: undeliverable, outside the 24 h window, not allowed in test.
        (400, 131026, SubmitAnswer.REFUSED),
        (400, 131047, SubmitAnswer.REFUSED),
        (400, 131030, SubmitAnswer.REFUSED),
        (400, 100, SubmitAnswer.REFUSED),  # invalid parameter
        (400, None, SubmitAnswer.REFUSED),  # no error object at all
        (404, None, SubmitAnswer.REFUSED),
        # The HTTP status alone says "not now" whatever the code.
        (429, None, SubmitAnswer.TRY_LATER),
        (429, 131026, SubmitAnswer.TRY_LATER),
        (500, None, SubmitAnswer.TRY_LATER),
        (502, 131026, SubmitAnswer.TRY_LATER),
        (503, None, SubmitAnswer.TRY_LATER),
        (599, None, SubmitAnswer.TRY_LATER),
        (499, None, SubmitAnswer.REFUSED),  # the last 4xx is still a 4xx
        # Accepted: any 2xx, even with a code (nothing is refused that Meta took).
        (200, None, SubmitAnswer.ACCEPTED),
        (201, None, SubmitAnswer.ACCEPTED),
        (299, 131026, SubmitAnswer.ACCEPTED),
        (300, None, SubmitAnswer.REFUSED),
        (199, None, SubmitAnswer.REFUSED),
        # Our token (190, or no code): the operator fixes it and the messages wait.
        (401, 190, SubmitAnswer.TRY_LATER),
        (403, 190, SubmitAnswer.TRY_LATER),
        # AuthException 0 is also our token (expired or revoked), per Meta's error tables.
        (401, 0, SubmitAnswer.TRY_LATER),
        # Code 2 is temporary downtime or overload, whatever HTTP status carries it.
        (400, 2, SubmitAnswer.TRY_LATER),
        (401, None, SubmitAnswer.TRY_LATER),
        (403, None, SubmitAnswer.TRY_LATER),
        # Any other code on 401/403 is about this message or this account: refused.
        (401, 100, SubmitAnswer.REFUSED),
        (403, 10, SubmitAnswer.REFUSED),  # permission denied
        (403, 368, SubmitAnswer.REFUSED),  # blocked for policy violations
        (403, 131026, SubmitAnswer.REFUSED),
        (400, 190, SubmitAnswer.REFUSED),  # 190 means our token only on 401/403
    ],
)
def test_submit_answers(http_status: int, code: int | None, answer: SubmitAnswer) -> None:
    assert submit_answer(http_status, code) is answer


@pytest.mark.parametrize(
    ("error", "http_status", "text"),
    [
        (
            {
                "message": "(#131026) Message undeliverable",
                "type": "OAuthException",
                "code": 131026,
                "error_data": {"messaging_product": "whatsapp", "details": "Not on WhatsApp"},
                "fbtrace_id": "AbCdEf",
            },
            400,
            "WhatsApp error 131026: (#131026) Message undeliverable: Not on WhatsApp",
        ),
        (  # a status's errors[0]: title instead of message
            {"code": 131050, "title": "User stopped marketing", "error_data": {"details": "x"}},
            200,
            "WhatsApp error 131050: User stopped marketing: x",
        ),
        (  # message preferred over title
            {"code": 1, "message": "M", "title": "T"},
            200,
            "WhatsApp error 1: M",
        ),
        (  # details repeating the message are said once
            {
                "code": 131000,
                "message": "Something went wrong",
                "error_data": {"details": "Something went wrong"},
            },
            500,
            "WhatsApp error 131000: Something went wrong",
        ),
        ({"code": 4, "message": "  Too many calls  "}, 400, "WhatsApp error 4: Too many calls"),
        ({"code": 4}, 400, "WhatsApp error 4: no message"),
        ({"code": 4, "error_data": "not an object"}, 400, "WhatsApp error 4: no message"),
        ({"code": 4, "error_data": {"details": "  "}}, 400, "WhatsApp error 4: no message"),
        (None, 502, "WhatsApp answered HTTP 502"),
        ("Bad Gateway", 502, "WhatsApp answered HTTP 502"),
        ([{"code": 4}], 400, "WhatsApp answered HTTP 400"),
    ],
)
def test_error_texts(error: object, http_status: int, text: str) -> None:
    assert error_text(error, http_status) == text


def test_an_error_text_is_at_most_500_characters() -> None:
    text = error_text({"code": 131000, "message": "x" * 2000}, 400)
    assert len(text) == 500
    assert text.startswith("WhatsApp error 131000: xxx")


def _sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


BODY = b'{"object":"whatsapp_business_account","entry":[]}'


@pytest.mark.parametrize(
    ("secret", "body", "header", "matches"),
    [
        (SECRET, BODY, _sign(BODY), True),
        (SECRET, BODY, _sign(BODY).upper().replace("SHA256=", "sha256="), True),  # upper hex
        (SECRET, BODY, f"  {_sign(BODY)}  ", True),  # surrounding spaces
        (SECRET, b"", _sign(b""), True),
        (SECRET, BODY, _sign(BODY, "another secret"), False),
        (SECRET, BODY + b" ", _sign(BODY), False),  # one more byte
        (SECRET, BODY.replace(b"[]", b"[ ]"), _sign(BODY), False),  # same JSON, other bytes
        (SECRET, BODY, None, False),
        (SECRET, BODY, "", False),
        (SECRET, BODY, _sign(BODY).removeprefix("sha256="), False),  # no scheme
        (SECRET, BODY, _sign(BODY).replace("sha256=", "sha1="), False),
        (SECRET, BODY, _sign(BODY).replace("sha256=", "SHA256="), False),
        (SECRET, BODY, "sha256=", False),
        (SECRET, BODY, "sha256", False),
        (SECRET, BODY, _sign(BODY)[:-2], False),  # truncated
        (SECRET, BODY, _sign(BODY) + "00", False),
        (SECRET, BODY, _sign(BODY)[:-1] + "é", False),  # not ASCII
        (SECRET, BODY, _sign(BODY)[:-1] + "\udc80", False),  # lone surrogate
        ("", BODY, _sign(BODY, ""), False),  # no secret: nothing verifies
    ],
)
def test_signatures(secret: str, body: bytes, header: str | None, matches: bool) -> None:
    assert signature_matches(secret, body, header) is matches


@given(st.binary(max_size=2000), st.binary(min_size=1, max_size=8))
def test_any_changed_body_fails_its_signature(body: bytes, extra: bytes) -> None:
    header = _sign(body)
    assert signature_matches(SECRET, body, header)
    assert not signature_matches(SECRET, body + extra, header)


def _notification(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [{"value": value, "field": field} for value in values],
            }
        ],
    }


def _value(**parts: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        **parts,
    }


DELIVERED_WITH_PRICING: dict[str, Any] = {
    "id": WAMID,
    "status": "delivered",
    "timestamp": "1750263773",
    "recipient_id": "16505551234",
    "conversation": {
        "id": "4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a",
        "expiration_timestamp": "1750350173",
        "origin": {"type": "marketing"},
    },
    "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing"},
}

FAILED: dict[str, Any] = {
    "id": "wamid.failed",
    "status": "failed",
    "timestamp": "1750263773",
    "recipient_id": "16505551234",
    "errors": [
        {
            "code": 131050,
            "title": "Unable to deliver the message.",
            "message": "Unable to deliver the message.",
            "error_data": {"details": "The recipient has stopped marketing messages."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    ],
}


def test_a_delivered_status_with_conversation_and_pricing() -> None:
    body = _notification(_value(statuses=[DELIVERED_WITH_PRICING]))
    assert read_notification(body) == Notification(
        (StatusUpdate(WAMID, MessageStatus.DELIVERED, True, None),), ()
    )


@pytest.mark.parametrize(
    ("name", "status", "known"),
    [
        ("sent", None, True),  # SENT says it already: no event
        ("delivered", MessageStatus.DELIVERED, True),
        ("read", MessageStatus.READ, True),
        ("READ", MessageStatus.READ, True),
        ("played", None, False),  # a voice message played: not ours to report
        ("deleted", None, False),
        ("", None, False),
    ],
)
def test_status_names(name: str, status: MessageStatus | None, known: bool) -> None:
    body = _notification(_value(statuses=[{"id": WAMID, "status": name, "timestamp": "1"}]))
    assert read_notification(body).statuses == (StatusUpdate(WAMID, status, known, None),)


def test_a_status_without_a_name_is_unknown() -> None:
    body = _notification(_value(statuses=[{"id": WAMID}]))
    assert read_notification(body).statuses == (StatusUpdate(WAMID, None, False, None),)


def test_a_failed_status_carries_its_first_error() -> None:
    second = {"code": 1, "title": "not this one"}
    failed = {**FAILED, "errors": [*FAILED["errors"], second]}
    body = _notification(_value(statuses=[failed]))
    assert read_notification(body).statuses == (
        StatusUpdate(
            "wamid.failed",
            MessageStatus.ERROR,
            True,
            "WhatsApp error 131050: Unable to deliver the message.: "
            "The recipient has stopped marketing messages.",
        ),
    )


@pytest.mark.parametrize("errors", [None, [], "oops", ["not an object"]])
def test_a_failed_status_without_errors_still_says_why(errors: object) -> None:
    body = _notification(_value(statuses=[{"id": "w1", "status": "failed", "errors": errors}]))
    assert read_notification(body).statuses == (
        StatusUpdate("w1", MessageStatus.ERROR, True, "WhatsApp: failed"),
    )


def test_only_failed_statuses_carry_an_error() -> None:
    read = {**FAILED, "status": "read"}
    body = _notification(_value(statuses=[read]))
    assert read_notification(body).statuses == (
        StatusUpdate("wamid.failed", MessageStatus.READ, True, None),
    )


@pytest.mark.parametrize(
    "wamid",
    [None, "", "   ", 12345, ["wamid.x"], {"id": "x"}, "wamid.\x00x", "wamid.\ud800x", "\udfff"],
)
def test_statuses_without_a_usable_id_are_skipped(wamid: object) -> None:
    odd = {"id": wamid, "status": "delivered", "timestamp": "1"}
    body = _notification(_value(statuses=[odd, {"id": "good", "status": "read"}]))
    assert read_notification(body).statuses == (
        StatusUpdate("good", MessageStatus.READ, True, None),
    )


def test_a_status_without_an_id_key_is_skipped() -> None:
    body = _notification(_value(statuses=[{"status": "delivered"}]))
    assert read_notification(body) == Notification((), ())


def test_an_id_is_stripped() -> None:
    body = _notification(_value(statuses=[{"id": f" {WAMID}\n", "status": "delivered"}]))
    assert read_notification(body).statuses[0].wamid == WAMID


TEXT_MESSAGE = _value(
    contacts=[{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
    messages=[
        {
            "from": "16505551234",
            "id": "wamid.inbound1",
            "timestamp": "1749416383",
            "type": "text",
            "text": {"body": "Does it come in another color?"},
        }
    ],
)


def test_a_text_message_with_contacts() -> None:
    assert read_notification(_notification(TEXT_MESSAGE)) == Notification(
        (),
        (
            InboundMessage(
                PHONE_NUMBER_ID, "+16505551234", "TEXT", "Does it come in another color?"
            ),
        ),
    )


def _image(**image: Any) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": "wamid.inbound2",
        "timestamp": "1744344496",
        "type": "image",
        "image": {"mime_type": "image/jpeg", "sha256": "abc=", "id": "1003383421387256", **image},
    }


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (_image(caption="Black jacket?"), "Black jacket?"),
        (_image(), "image"),  # no caption: the type is what the customer needs
        (_image(caption=""), "image"),
        ({**_image(), "image": "not an object"}, "image"),
    ],
)
def test_an_image_message(message: dict[str, Any], text: str) -> None:
    body = _notification(_value(messages=[message]))
    assert read_notification(body).messages == (
        InboundMessage(PHONE_NUMBER_ID, "+16505551234", "IMAGE", text),
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (  # Meta documents `from` without +; one with + is not doubled
            {"from": "+447700900123", "type": "text", "text": {"body": "hi"}},
            InboundMessage(PHONE_NUMBER_ID, "+447700900123", "TEXT", "hi"),
        ),
        (
            {"from": "447700900123", "type": "TEXT", "text": {"body": "hi"}},
            InboundMessage(PHONE_NUMBER_ID, "+447700900123", "TEXT", "hi"),
        ),
        (  # a text without its text part says its type
            {"from": "447700900123", "type": "text", "text": "hi"},
            InboundMessage(PHONE_NUMBER_ID, "+447700900123", "TEXT", "text"),
        ),
        (
            {"from": "447700900123", "type": "text", "text": {}},
            InboundMessage(PHONE_NUMBER_ID, "+447700900123", "TEXT", ""),
        ),
        (
            {"from": "447700900123", "type": "location", "location": {"latitude": 1.5}},
            InboundMessage(PHONE_NUMBER_ID, "+447700900123", "LOCATION", "location"),
        ),
        (
            {"from": "447700900123", "type": "video", "video": {"caption": "clip", "id": "9"}},
            InboundMessage(PHONE_NUMBER_ID, "+447700900123", "VIDEO", "clip"),
        ),
    ],
)
def test_inbound_messages(message: dict[str, Any], expected: InboundMessage) -> None:
    body = _notification(_value(messages=[message]))
    assert read_notification(body).messages == (expected,)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, {"from": "16505551234", "type": "text", "text": {"body": "x"}}),  # no number id
        ({}, {"from": "16505551234", "type": "text", "text": {"body": "x"}}),
        ({"phone_number_id": PHONE_NUMBER_ID}, {"type": "text", "text": {"body": "x"}}),
        ({"phone_number_id": PHONE_NUMBER_ID}, {"from": " ", "type": "text"}),
        ({"phone_number_id": PHONE_NUMBER_ID}, {"from": "16505551234", "text": {"body": "x"}}),
    ],
)
def test_messages_missing_a_part_are_skipped(metadata: object, message: dict[str, Any]) -> None:
    value = {"messaging_product": "whatsapp", "metadata": metadata, "messages": [message]}
    assert read_notification(_notification(value)) == Notification((), ())


def test_several_entries_and_changes_are_all_read_in_order() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": _value(statuses=[{"id": "a", "status": "sent"}]),
                    },
                    {
                        "field": "messages",
                        "value": {**TEXT_MESSAGE, "metadata": {"phone_number_id": "200"}},
                    },
                ],
            },
            {
                "id": "2",
                "changes": [
                    {"field": "messages", "value": _value(statuses=[{"id": "b", "status": "read"}])}
                ],
            },
        ],
    }
    result = read_notification(body)
    assert result.statuses == (
        StatusUpdate("a", None, True, None),
        StatusUpdate("b", MessageStatus.READ, True, None),
    )
    assert [(m.phone_number_id, m.text) for m in result.messages] == [
        ("200", "Does it come in another color?")
    ]


def test_statuses_and_messages_in_one_value() -> None:
    value = {**TEXT_MESSAGE, "statuses": [DELIVERED_WITH_PRICING]}
    result = read_notification(_notification(value))
    assert len(result.statuses) == 1
    assert len(result.messages) == 1


@pytest.mark.parametrize(
    "field", ["account_update", "message_template_status_update", "Messages", "", None]
)
def test_other_fields_are_ignored(field: object) -> None:
    body = _notification(_value(statuses=[DELIVERED_WITH_PRICING]), field=field)  # type: ignore[arg-type]
    assert read_notification(body) == Notification((), ())


def test_a_batch_of_hundreds_of_statuses() -> None:
    statuses = [{"id": f"wamid.{i}", "status": "delivered"} for i in range(500)]
    result = read_notification(_notification(_value(statuses=statuses)))
    assert [s.wamid for s in result.statuses] == [f"wamid.{i}" for i in range(500)]


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        42,
        {},
        {"entry": None},
        {"entry": {"changes": []}},
        {"entry": ["x", 1, None]},
        {"entry": [{"changes": "x"}]},
        {"entry": [{"changes": [{"field": "messages"}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": []}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"statuses": {"id": "x"}}}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"statuses": ["x", 1]}}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": [None]}}]}]},
    ],
)
def test_odd_shapes_say_nothing(body: object) -> None:
    assert read_notification(body) == Notification((), ())


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "entry",
                    "changes",
                    "field",
                    "value",
                    "metadata",
                    "phone_number_id",
                    "statuses",
                    "messages",
                    "id",
                    "status",
                    "errors",
                    "from",
                    "type",
                    "text",
                    "body",
                    "image",
                    "caption",
                    "code",
                    "message",
                    "title",
                    "error_data",
                    "details",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=40,
)


@given(JSON_LIKE)
def test_read_notification_never_raises(body: object) -> None:
    result = read_notification(body)
    assert all(isinstance(s.wamid, str) and s.wamid for s in result.statuses)


@given(JSON_LIKE, JSON_LIKE, st.sampled_from(["sent", "delivered", "read", "failed", "x"]))
def test_any_odd_status_inside_a_real_notification_never_raises(
    extra: object, errors: object, name: str
) -> None:
    status = {"id": "wamid.1", "status": name, "errors": errors, "extra": extra}
    message = {"from": extra, "type": name, name: extra, "text": errors}
    body = _notification(_value(statuses=[status, extra], messages=[message, extra]))
    result = read_notification(body)
    assert result.statuses[0].wamid == "wamid.1"


def test_a_real_json_body_is_read_as_parsed() -> None:
    raw = json.dumps(_notification(TEXT_MESSAGE)).encode()
    assert read_notification(json.loads(raw)).messages[0].source == "+16505551234"
