"""Google RCS Business Messaging in our words (SPEC §11.4, CARRIER-NOTES; issue 12): what its
answers to a send mean, how its events are signed, and what they say. Events are shaped as
Google's UserEvent and UserMessage references show them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlrhub.domain.rbm import (
    EventKind,
    RbmEvent,
    decode_data,
    decode_event,
    error_text,
    signature_matches,
    submit_answer,
)
from dlrhub.domain.status import MessageStatus
from dlrhub.domain.submission import SubmitAnswer

TOKEN = "SJENCPGJESMGUFPY"
USER = "+12223334444"
AGENT = "welcome-bot-abcd1234_agent@rbm.goog"
OUR_ID = "2f0c7e9e-6a55-4a41-9b43-5d1f3c0e8a11"


@pytest.mark.parametrize(
    ("http_status", "answer"),
    [
        (200, SubmitAnswer.ACCEPTED),
        (204, SubmitAnswer.ACCEPTED),
        (299, SubmitAnswer.ACCEPTED),
        (199, SubmitAnswer.REFUSED),
        (300, SubmitAnswer.REFUSED),
        # Not RCS-capable, agent not launched there: for good (fall back to SMS is the advice).
        (404, SubmitAnswer.REFUSED),
        (400, SubmitAnswer.REFUSED),
        (403, SubmitAnswer.REFUSED),
        (409, SubmitAnswer.REFUSED),
        # Our token: the operator fixes it, the messages wait.
        (401, SubmitAnswer.TRY_LATER),
        (408, SubmitAnswer.TRY_LATER),
        (429, SubmitAnswer.TRY_LATER),
        (500, SubmitAnswer.TRY_LATER),
        (503, SubmitAnswer.TRY_LATER),
        (599, SubmitAnswer.TRY_LATER),
        (499, SubmitAnswer.REFUSED),
    ],
)
def test_submit_answers(http_status: int, answer: SubmitAnswer) -> None:
    assert submit_answer(http_status) is answer


@pytest.mark.parametrize(
    ("body", "http_status", "text"),
    [
        (
            {
                "error": {
                    "code": 404,
                    "message": "Requested entity was not found.",
                    "status": "NOT_FOUND",
                }
            },
            404,
            "RBM NOT_FOUND: Requested entity was not found.",
        ),
        ({"error": {"code": 429, "message": "  Quota  "}}, 429, "RBM 429: Quota"),
        ({"error": {"status": "PERMISSION_DENIED"}}, 403, "RBM PERMISSION_DENIED: no message"),
        ({"error": {}}, 500, "RBM 500: no message"),
        ({"error": "denied"}, 403, "RBM answered HTTP 403"),
        ({}, 502, "RBM answered HTTP 502"),
        (None, 502, "RBM answered HTTP 502"),
        ("<html>Bad Gateway</html>", 502, "RBM answered HTTP 502"),
        ([{"error": {"status": "X"}}], 400, "RBM answered HTTP 400"),
    ],
)
def test_error_texts(body: object, http_status: int, text: str) -> None:
    assert error_text(body, http_status) == text


def test_an_error_text_is_at_most_500_characters() -> None:
    text = error_text({"error": {"status": "INTERNAL", "message": "x" * 2000}}, 500)
    assert len(text) == 500
    assert text.startswith("RBM INTERNAL: xxx")


def _sign(data: bytes, token: str = TOKEN) -> str:
    return base64.b64encode(hmac.new(token.encode(), data, hashlib.sha512).digest()).decode()


def _push(event: dict[str, Any]) -> tuple[bytes, bytes]:
    """(the decoded data, the HTTP body Google posts it in)."""
    data = json.dumps(event).encode()
    body = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": "4455667788",
            "publishTime": "2026-04-09T10:30:00.123Z",
        },
        "subscription": "projects/rbm-agent/subscriptions/rbm-agent-sub",
    }
    return data, json.dumps(body).encode()


DATA, HTTP_BODY = _push({"senderPhoneNumber": USER, "eventType": "READ", "messageId": OUR_ID})


@pytest.mark.parametrize(
    ("token", "data", "header", "matches"),
    [
        (TOKEN, DATA, _sign(DATA), True),
        (TOKEN, DATA, f" {_sign(DATA)}\n", True),
        (TOKEN, b"", _sign(b""), True),
        # Over the decoded data, not the HTTP body nor the base64 text of the data.
        (TOKEN, DATA, _sign(HTTP_BODY), False),
        (TOKEN, DATA, _sign(base64.b64encode(DATA)), False),
        (TOKEN, DATA, _sign(DATA, "another token"), False),
        (TOKEN, DATA + b" ", _sign(DATA), False),
        (TOKEN, DATA, _sign(DATA).rstrip("="), False),  # unpadded base64 is not base64
        (TOKEN, DATA, _sign(DATA)[:-4], False),
        (TOKEN, DATA, base64.b64encode(b"\x00" * 64).decode(), False),
        (TOKEN, DATA, hmac.new(TOKEN.encode(), DATA, hashlib.sha512).hexdigest(), False),
        (TOKEN, DATA, f"{_sign(DATA)[:40]}!{_sign(DATA)[40:]}", False),  # junk inside
        (TOKEN, DATA, f"{_sign(DATA)[:40]} {_sign(DATA)[40:]}", False),
        (TOKEN, DATA, "!!not base64!!", False),
        (TOKEN, DATA, "é" * 88, False),
        (TOKEN, DATA, "\udc80", False),
        (TOKEN, DATA, None, False),
        (TOKEN, DATA, "", False),
        ("", DATA, _sign(DATA, ""), False),  # no client token: nothing verifies
    ],
)
def test_signatures(token: str, data: bytes, header: str | None, matches: bool) -> None:
    assert signature_matches(token, data, header) is matches


def test_the_url_safe_alphabet_is_not_google_s() -> None:
    # Google's samples digest('base64'): the standard alphabet. The same digest written with
    # -_ (this one has a /) is not what Google sends.
    url_safe = base64.urlsafe_b64encode(
        hmac.new(TOKEN.encode(), DATA, hashlib.sha512).digest()
    ).decode()
    assert url_safe != _sign(DATA)
    assert not signature_matches(TOKEN, DATA, url_safe)


@given(st.binary(max_size=2000), st.binary(min_size=1, max_size=8))
def test_any_changed_data_fails_its_signature(data: bytes, extra: bytes) -> None:
    header = _sign(data)
    assert signature_matches(TOKEN, data, header)
    assert not signature_matches(TOKEN, data + extra, header)


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        (base64.b64encode(DATA).decode(), DATA),
        ("", b""),
        ("aGk=", b"hi"),
        ("aGk", None),  # missing padding
        ("aG k=", None),
        ("a-_=", None),  # URL-safe alphabet: not Pub/Sub's
        ("!!", None),
        ("é", None),
        (None, None),
        (123, None),
        ({"data": "aGk="}, None),
        (b"aGk=", None),  # JSON has no bytes: not a value Google sent
    ],
)
def test_decode_data(data: object, decoded: bytes | None) -> None:
    assert decode_data(data) == decoded


def _decode(event: object) -> RbmEvent | None:
    return decode_event(json.dumps(event).encode())


def _event(event_type: str, **more: Any) -> dict[str, Any]:
    return {
        "senderPhoneNumber": USER,
        "eventType": event_type,
        "eventId": "MxXb3j2cRvSHeZrb2WjxjLhA",
        "sendTime": "2026-04-09T10:30:00.456Z",
        "agentId": AGENT,
        **more,
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            _event("DELIVERED", messageId=OUR_ID),
            RbmEvent(EventKind.STATUS, OUR_ID, MessageStatus.DELIVERED, USER, "", "", "DELIVERED"),
        ),
        (
            _event("READ", messageId=OUR_ID),
            RbmEvent(EventKind.STATUS, OUR_ID, MessageStatus.READ, USER, "", "", "READ"),
        ),
        (
            _event("read", messageId=f" {OUR_ID} "),
            RbmEvent(EventKind.STATUS, OUR_ID, MessageStatus.READ, USER, "", "", "READ"),
        ),
        (  # IS_TYPING carries no messageId: acknowledged, nothing to do
            _event("IS_TYPING"),
            RbmEvent(EventKind.OTHER, "", None, USER, "", "", "IS_TYPING"),
        ),
        (  # a messageId on an event that is not a status does not make it one
            _event("IS_TYPING", messageId=OUR_ID),
            RbmEvent(EventKind.OTHER, OUR_ID, None, USER, "", "", "IS_TYPING"),
        ),
        (
            _event("SUBSCRIBE"),
            RbmEvent(EventKind.OTHER, "", None, USER, "", "", "SUBSCRIBE"),
        ),
        (  # a status of no message we could have sent
            _event("DELIVERED"),
            RbmEvent(EventKind.OTHER, "", MessageStatus.DELIVERED, USER, "", "", "DELIVERED"),
        ),
        (
            _event("READ", messageId="bad\x00id"),
            RbmEvent(EventKind.OTHER, "", MessageStatus.READ, USER, "", "", "READ"),
        ),
        (
            _event("READ", messageId="\ud800"),
            RbmEvent(EventKind.OTHER, "", MessageStatus.READ, USER, "", "", "READ"),
        ),
        (
            _event("READ", messageId="   "),
            RbmEvent(EventKind.OTHER, "", MessageStatus.READ, USER, "", "", "READ"),
        ),
    ],
)
def test_user_events(event: dict[str, Any], expected: RbmEvent) -> None:
    assert _decode(event) == expected


def _message(**content: Any) -> dict[str, Any]:
    return {
        "senderPhoneNumber": USER,
        "messageId": "MxXb3j2cRvSHeZrb2Wjxj",
        "sendTime": "2026-04-09T10:31:00.789Z",
        "agentId": AGENT,
        **content,
    }


def _user_message(message_type: str, text: str) -> RbmEvent:
    return RbmEvent(
        EventKind.USER_MESSAGE, "MxXb3j2cRvSHeZrb2Wjxj", None, USER, message_type, text, ""
    )


USER_FILE = {
    "category": "IMAGE",
    "thumbnail": {"mimeType": "image/jpeg", "fileSizeBytes": 1000, "fileUri": "https://t"},
    "payload": {
        "mimeType": "image/jpeg",
        "fileSizeBytes": 100000,
        "fileUri": "https://rcs-user-content.storage.googleapis.com/abc",
        "fileName": "photo.jpg",
    },
}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            _message(text="Hello, is the shop open?"),
            _user_message("TEXT", "Hello, is the shop open?"),
        ),
        (
            _message(suggestionResponse={"postbackData": "yes_pb", "text": "Yes", "type": "REPLY"}),
            _user_message("SUGGESTION_RESPONSE", "Yes"),
        ),
        (
            _message(suggestionResponse={"postbackData": "yes_pb"}),
            _user_message("SUGGESTION_RESPONSE", "yes_pb"),
        ),
        (
            _message(suggestionResponse={}),
            _user_message("SUGGESTION_RESPONSE", "suggestionResponse"),
        ),
        (
            _message(location={"latitude": 37.422, "longitude": -122.084}),
            _user_message("LOCATION", "location"),
        ),
        (_message(userFile=USER_FILE), _user_message("USER_FILE", "userFile")),
        (  # an empty text with a file: the file
            _message(text="", userFile=USER_FILE),
            _user_message("USER_FILE", "userFile"),
        ),
    ],
)
def test_user_messages(event: dict[str, Any], expected: RbmEvent) -> None:
    assert _decode(event) == expected


def test_the_agent_id_does_not_change_what_an_event_says() -> None:
    # Google writes agentId with its `@rbm.goog` suffix; the event means the same without it.
    with_suffix = _decode(_message(text="hi"))
    without = _decode({**_message(text="hi"), "agentId": "welcome-bot-abcd1234_agent"})
    absent = _decode({k: v for k, v in _message(text="hi").items() if k != "agentId"})
    assert with_suffix == without == absent == _user_message("TEXT", "hi")


@pytest.mark.parametrize(
    "event",
    [
        _message(),  # nothing the user sent
        _message(text=""),
        _message(text=42),
        _message(location="here"),
        _message(userFile=["x"]),
        _message(richCard={"x": 1}),
        {},
    ],
)
def test_messages_with_nothing_we_know_are_other(event: dict[str, Any]) -> None:
    decoded = _decode(event)
    assert decoded is not None
    assert decoded.kind is EventKind.OTHER


def test_an_event_type_wins_over_content() -> None:
    decoded = _decode(_event("READ", messageId=OUR_ID, text="hi"))
    assert decoded is not None
    assert decoded.kind is EventKind.STATUS


def test_a_missing_sender_is_empty() -> None:
    decoded = _decode({"text": "hi", "senderPhoneNumber": None})
    assert decoded is not None
    assert (decoded.kind, decoded.source, decoded.message_id) == (EventKind.USER_MESSAGE, "", "")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"{",
        b'"a string"',
        b"[]",
        b'[{"eventType": "READ"}]',
        b"42",
        b"null",
        b"\xff\xfe\xfd",
        b'{"text": "\xff"}',  # not UTF-8
        b"[" * 100_000,  # nested past the decoder's recursion limit
        b'{"a":' * 5_000,
        b'{"text": "hi", "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    ],
)
def test_what_is_not_a_json_object_is_no_event(data: bytes) -> None:
    assert decode_event(data) is None


def test_json_in_utf16_is_read_as_json_is() -> None:
    # json.loads detects UTF-16/32: the signed bytes are what Google sent, whatever they are.
    decoded = decode_event(json.dumps({"text": "hi"}).encode("utf-16"))
    assert decoded is not None
    assert decoded.text == "hi"


@given(st.binary(max_size=4000))
def test_decode_event_never_raises_on_bytes(data: bytes) -> None:
    decoded = decode_event(data)
    assert decoded is None or isinstance(decoded, RbmEvent)


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "senderPhoneNumber",
                    "eventType",
                    "messageId",
                    "text",
                    "suggestionResponse",
                    "location",
                    "userFile",
                    "postbackData",
                    "agentId",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@given(JSON_LIKE)
def test_decode_event_never_raises_on_any_json(event: object) -> None:
    decoded = decode_event(json.dumps(event).encode())
    assert (decoded is None) is (not isinstance(event, dict))
