"""The Google RBM stand-in, run as its own process: tokens from google-auth itself, every send
behaviour, events in every order, signatures over the decoded data, verification requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.net import closed_port
from tests.support.rbm_standin import (
    CLIENT_EMAIL,
    RbmStandin,
    require_rbm_standin,
    write_service_account_key,
)
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.tls import make_tls

RBM_SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
RFC3339_NANOS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


@pytest.fixture
def key(tmp_path: Path) -> Path:
    require_rbm_standin()
    return write_service_account_key(tmp_path / "rbm-key.json")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def rbm(key: Path, receiver: Receiver) -> Iterator[RbmStandin]:
    with RbmStandin(key, notify_url=receiver.url_for("/carrier/v1/rbm")) as standin:
        yield standin


def google_token(key: Path, scopes: list[str] | None = None) -> str:
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(key), scopes=scopes or [RBM_SCOPE]
    )
    credentials.refresh(Request())
    token: str = credentials.token
    return token


def send(
    rbm: RbmStandin, token: str | None, phone: str, message_id: str, body: Any = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{rbm.api_url}/phones/{phone}/agentMessages",
        params={"messageId": message_id, "agentId": rbm.agent_id},
        json={"contentMessage": {"text": "Hello"}} if body is None else body,
        headers=headers,
    )


def data_of(request: ReceivedRequest) -> bytes:
    return base64.b64decode(request.json()["message"]["data"])


def event_of(request: ReceivedRequest) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(data_of(request))
    return event


def hmac_sha512(key: str, data: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), data, hashlib.sha512).digest()).decode()


def events_for(receiver: Receiver, phone: str, count: int) -> list[dict[str, Any]]:
    requests = receiver.wait_for(count, predicate=lambda r: phone in data_of(r).decode())
    return [event_of(r) for r in requests]


def jwt(key_file: Path, claims: dict[str, Any], **header: Any) -> str:
    """An RS256 JWT signed with the key file's key (the test forges with it)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    info = json.loads(key_file.read_text())
    private = serialization.load_pem_private_key(info["private_key"].encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)

    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    head = {"alg": "RS256", "typ": "JWT", "kid": info["private_key_id"], **header}
    signed = f"{part(head)}.{part(claims)}"
    signature = private.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signed + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def good_claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": CLIENT_EMAIL,
        "aud": GOOGLE_AUDIENCE,
        "scope": RBM_SCOPE,
        "iat": now,
        "exp": now + 3600,
    }


def test_a_google_auth_token_sends_and_the_events_are_googles_shape(
    rbm: RbmStandin, key: Path, receiver: Receiver
) -> None:
    message_id = str(uuid.uuid4())
    response = send(rbm, google_token(key), "+15551230000", message_id)
    assert response.status_code == 200, response.text
    resource = response.json()
    assert resource["name"] == f"phones/+15551230000/agentMessages/{message_id}"
    assert resource["contentMessage"] == {"text": "Hello"}
    assert RFC3339_NANOS.fullmatch(resource["sendTime"])
    requests = receiver.wait_for(2)
    for request in requests:
        envelope = request.json()
        assert request.path == "/carrier/v1/rbm"
        assert set(envelope) == {"message", "subscription"}
        assert envelope["subscription"].startswith("projects/")
        assert RFC3339_NANOS.fullmatch(envelope["message"]["publishTime"])
        assert envelope["message"]["messageId"].isdigit()
        # The signature covers the decoded data, not the body that was posted.
        signature = request.header("X-Goog-Signature")
        assert signature == hmac_sha512(rbm.client_token, data_of(request))
        assert signature != hmac_sha512(rbm.client_token, request.body)
    events = [event_of(r) for r in requests]
    assert [e["eventType"] for e in events] == ["DELIVERED", "READ"]
    for event in events:
        assert set(event) == {
            "senderPhoneNumber",
            "eventType",
            "eventId",
            "messageId",
            "sendTime",
            "agentId",
        }
        assert event["messageId"] == message_id
        assert event["senderPhoneNumber"] == "+15551230000"
        assert event["agentId"] == f"{rbm.agent_id}@rbm.goog"
    assert rbm.events("token") == [
        {"event": "token", "ok": True, "reason": None, "scopes": [RBM_SCOPE]}
    ]
    sent = rbm.wait_for_blocking(lambda e: e["event"] == "send")
    assert sent == {
        "event": "send",
        "phone": "+15551230000",
        "message_id": message_id,
        "text": "Hello",
        "http_status": 200,
        "duplicate": False,
    }
    notified = rbm.wait_for_blocking(lambda e: e["event"] == "notify", skip=1)
    assert notified["http_status"] == 200
    assert notified["kind"] == "READ"


def test_google_auth_with_a_key_the_standin_does_not_know_is_refused(
    rbm: RbmStandin, key: Path, tmp_path: Path
) -> None:
    from google.auth.exceptions import RefreshError

    forged = write_service_account_key(tmp_path / "forged.json", token_uri=rbm.token_uri)
    with pytest.raises(RefreshError, match="invalid_grant"):
        google_token(forged)
    refused = rbm.wait_for_blocking(lambda e: e["event"] == "token")
    assert refused["ok"] is False
    assert "Invalid JWT Signature" in refused["reason"]


@pytest.mark.parametrize(
    ("change", "header", "reason"),
    [
        ({"iat": 1_000_000_000, "exp": 1_000_003_600}, {}, "short-lived"),
        ({"exp": int(time.time()) + 7200}, {}, "short-lived"),
        ({"aud": "http://127.0.0.1/token"}, {}, "audience"),
        ({"iss": "someone@else.iam.gserviceaccount.com"}, {}, "account not found"),
        ({}, {"kid": "another-key"}, "Signature"),
        ({}, {"alg": "none"}, "Signature"),
    ],
)
def test_assertions_google_would_refuse_are_refused(
    rbm: RbmStandin, key: Path, change: dict[str, Any], header: dict[str, Any], reason: str
) -> None:
    assertion = jwt(key, {**good_claims(), **change}, **header)
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    response = httpx.post(rbm.token_uri, data=grant)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert reason in response.json()["error_description"]
    # The same assertion, unchanged, is accepted: the stand-in refused what was changed.
    grant["assertion"] = jwt(key, good_claims())
    assert httpx.post(rbm.token_uri, data=grant).status_code == 200


def test_only_the_jwt_bearer_grant_is_taken(rbm: RbmStandin, key: Path) -> None:
    grant = {"grant_type": "client_credentials", "assertion": jwt(key, good_claims())}
    response = httpx.post(rbm.token_uri, data=grant)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_sends_need_a_token_it_issued_for_the_rbm_scope(rbm: RbmStandin, key: Path) -> None:
    phone, message_id = "+15551231100", str(uuid.uuid4())
    for token in (None, "ya29.made-up"):
        response = send(rbm, token, phone, message_id)
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"
        assert response.json()["error"]["code"] == 401
    other_scope = google_token(key, ["https://www.googleapis.com/auth/cloud-platform"])
    response = send(rbm, other_scope, phone, message_id)
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    token = google_token(key)
    assert rbm.control("revoke_tokens") == {"revoked": 2}
    assert send(rbm, token, phone, message_id).status_code == 401
    assert send(rbm, google_token(key), phone, message_id).status_code == 200


@pytest.mark.parametrize(
    ("phone", "message_id", "body", "status", "google_status"),
    [
        ("+15551232201", None, None, 404, "NOT_FOUND"),
        ("+15551232204", None, None, 403, "PERMISSION_DENIED"),
        ("+15551232200", None, {"contentMessage": {}}, 400, "INVALID_ARGUMENT"),
        ("+15551232200", None, {"text": "Hello"}, 400, "INVALID_ARGUMENT"),
        ("+15551232200", "not-a-uuid", None, 400, "INVALID_ARGUMENT"),
        ("15551232200", None, None, 400, "INVALID_ARGUMENT"),
    ],
)
def test_refused_sends_answer_googles_error_object_and_post_nothing(
    rbm: RbmStandin,
    key: Path,
    receiver: Receiver,
    phone: str,
    message_id: str | None,
    body: Any,
    status: int,
    google_status: str,
) -> None:
    token = google_token(key)
    response = send(rbm, token, phone, message_id or str(uuid.uuid4()), body)
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, google_status)
    assert isinstance(error["message"], str)
    # Twice, to see the refusal is for good; then a send that is accepted, whose events come
    # after anything the refused ones could have caused.
    assert send(rbm, token, phone, message_id or str(uuid.uuid4()), body).status_code == status
    assert send(rbm, token, "+15551232299", str(uuid.uuid4())).status_code == 200
    events_for(receiver, "+15551232299", 2)
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(
    ("phone", "answers", "google_status"),
    [
        ("+15551233302", [429, 429, 200], "RESOURCE_EXHAUSTED"),
        ("+15551233305", [500, 200], "INTERNAL"),
    ],
)
def test_refused_for_now_then_accepted_with_the_same_message_id(
    rbm: RbmStandin,
    key: Path,
    receiver: Receiver,
    phone: str,
    answers: list[int],
    google_status: str,
) -> None:
    token, message_id = google_token(key), str(uuid.uuid4())
    responses = [send(rbm, token, phone, message_id) for _ in answers]
    assert [r.status_code for r in responses] == answers
    assert responses[0].json()["error"]["status"] == google_status
    assert [e["eventType"] for e in events_for(receiver, phone, 2)] == ["DELIVERED", "READ"]


def test_a_reused_message_id_is_answered_again_without_a_second_message(
    rbm: RbmStandin, key: Path, receiver: Receiver
) -> None:
    token, message_id = google_token(key), str(uuid.uuid4())
    first = send(rbm, token, "+15551234400", message_id)
    again = send(rbm, token, "+15551234400", message_id, {"contentMessage": {"text": "Other"}})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    events_for(receiver, "+15551234400", 2)
    assert send(rbm, token, "+15551234499", str(uuid.uuid4())).status_code == 200
    events_for(receiver, "+15551234499", 2)  # after these, any extra event would have come
    assert len(receiver.requests) == 4
    assert [e["duplicate"] for e in rbm.events("send")] == [False, True, False]


@pytest.mark.parametrize(
    ("phone", "order"),
    [
        ("+15551235500", ["DELIVERED", "READ"]),
        ("+15551235507", ["READ", "DELIVERED"]),
        ("+15551235508", ["DELIVERED", "DELIVERED", "READ", "READ"]),
        ("+15551235506", ["IS_TYPING", "DELIVERED", "READ"]),
    ],
)
def test_events_come_in_the_order_the_number_asks_for(
    rbm: RbmStandin, key: Path, receiver: Receiver, phone: str, order: list[str]
) -> None:
    message_id = str(uuid.uuid4())
    assert send(rbm, google_token(key), phone, message_id).status_code == 200
    events = events_for(receiver, phone, len(order))
    assert [e["eventType"] for e in events] == order
    for event in events:
        # The reference: messageId is there for DELIVERED and READ only.
        assert event.get("messageId") == (None if event["eventType"] == "IS_TYPING" else message_id)
    ids = {(e["eventType"], e["eventId"]) for e in events}
    assert len(ids) == len(set(order))  # a redelivery repeats its eventId, nothing else does


@pytest.mark.parametrize("mode", ["wrong", "missing"])
def test_badly_signed_events_and_what_the_webhook_answered(
    rbm: RbmStandin, receiver: Receiver, mode: str
) -> None:
    receiver.respond_with(Reply(401, b"bad signature"))
    answer = rbm.control("signature", {"mode": mode, "phone": "+15551236600"})
    assert (answer["http_status"], answer["body"]) == (401, "bad signature")
    (request,) = receiver.wait_for(1)
    assert event_of(request) == answer["data"]
    assert answer["data"]["eventType"] == "DELIVERED"
    signature = request.header("X-Goog-Signature")
    if mode == "missing":
        assert signature is None
    else:
        assert signature is not None
        assert signature != hmac_sha512(rbm.client_token, data_of(request))


def test_the_verification_request_and_the_answer_it_got(
    rbm: RbmStandin, receiver: Receiver
) -> None:
    receiver.respond_with(Reply(200, b"1234567890"))
    answer = rbm.control("verify", {"secret": "1234567890"})
    assert answer == {"http_status": 200, "body": "1234567890", "secret": "1234567890"}
    (request,) = receiver.wait_for(1)
    assert request.json() == {"clientToken": rbm.client_token, "secret": "1234567890"}
    assert request.header("X-Goog-Signature") is None
    receiver.respond_with(Reply(403, b"no"))
    refused = rbm.control("verify", {"client_token": "wrong"})
    assert (refused["http_status"], refused["body"]) == (403, "no")
    assert receiver.wait_for(2)[1].json()["clientToken"] == "wrong"


@pytest.mark.parametrize(
    "content",
    [
        {"text": "Hi there"},
        {"location": {"latitude": 52.37, "longitude": 4.89}},
        {"userFile": {"payload": {"mimeType": "image/gif", "fileSizeBytes": 1, "fileUri": "u"}}},
    ],
)
def test_user_messages_are_signed_user_message_resources(
    rbm: RbmStandin, receiver: Receiver, content: dict[str, Any]
) -> None:
    answer = rbm.control("user_message", {"from": "+15551237700", **content})
    assert answer["http_status"] == 200
    (request,) = receiver.wait_for(1)
    message = event_of(request)
    assert request.header("X-Goog-Signature") == hmac_sha512(rbm.client_token, data_of(request))
    assert set(message) == {"senderPhoneNumber", "messageId", "sendTime", "agentId", *content}
    assert message["senderPhoneNumber"] == "+15551237700"
    assert {k: message[k] for k in content} == content
    assert RFC3339_NANOS.fullmatch(message["sendTime"])


def test_an_unreachable_webhook_is_reported_and_the_standin_keeps_going(key: Path) -> None:
    notify_url = f"http://127.0.0.1:{closed_port()}/carrier/v1/rbm"
    with RbmStandin(key, notify_url=notify_url, event_delay_ms=0) as rbm:
        assert send(rbm, google_token(key), "+15551238800", str(uuid.uuid4())).status_code == 200
        failed = rbm.wait_for_blocking(lambda e: e["event"] == "notify", skip=1)
        assert failed["http_status"] is None
        assert "error" in failed
        answer = rbm.control("user_message", {"from": "+15551238800", "text": "Hi"})
        assert answer["http_status"] is None
        assert rbm.running


def test_an_https_webhook_is_trusted_through_the_ca_file(key: Path, tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    with Receiver(tls=tls) as receiver:
        notify_url = receiver.url_for("/carrier/v1/rbm")
        with RbmStandin(key, notify_url=notify_url, ca_file=tls.ca_pem_path) as rbm:
            answer = rbm.control("user_message", {"from": "+15551239900", "text": "Hi"})
            assert answer["http_status"] == 200
        with RbmStandin(key, notify_url=notify_url) as untrusting:
            answer = untrusting.control("user_message", {"from": "+15551239900", "text": "Hi"})
            assert answer["http_status"] is None
            assert "Certificate" in answer["error"] or "SSL" in answer["error"]
