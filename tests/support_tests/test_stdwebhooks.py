"""The independent Standard Webhooks verifier of tests/support checked on its own (hand-made
and published signatures), so that a test passing through it means something."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tests.support.stdwebhooks import SignatureError, sign, verify

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
MSG_ID = "evt_2Yc8kQ"
TS = 1_700_000_000
BODY = b'{"type":"message.delivered","id":"evt_2Yc8kQ"}'


def _by_hand(key: bytes, msg_id: str, ts: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def _headers(signature: str, *, msg_id: str = MSG_ID, ts: int = TS) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


GOOD_SIG = _by_hand(b"0123456789abcdef0123456789abcdef", MSG_ID, TS, BODY)


def test_verify_accepts_hand_computed_signature() -> None:
    verify(SECRET, _headers(GOOD_SIG), BODY, now=TS + 10)
    assert sign(SECRET, MSG_ID, TS, BODY) == GOOD_SIG


def test_verify_published_vector() -> None:
    # The example from the Standard Webhooks specification / reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = {
        "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "Webhook-Timestamp": "1614265330",
        "Webhook-Signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    verify(secret, headers, b'{"test": 2432232314}', now=1614265330)


def test_verify_header_names_case_insensitive_and_multiple_signatures() -> None:
    other = _by_hand(b"another key", MSG_ID, TS, BODY)
    headers = {
        "Webhook-ID": MSG_ID,
        "WEBHOOK-TIMESTAMP": str(TS),
        "Webhook-Signature": f"v1a,xyz {other} {GOOD_SIG}",
    }
    verify(SECRET, headers, BODY, now=TS)
    verify(SECRET.removeprefix("whsec_"), headers, BODY, now=TS)


def test_verify_rejects_tampered_body() -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, _headers(GOOD_SIG), BODY + b" ", now=TS)


def test_verify_rejects_wrong_secret() -> None:
    wrong = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(SignatureError):
        verify(wrong, _headers(GOOD_SIG), BODY, now=TS)


def test_verify_rejects_changed_id() -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, _headers(GOOD_SIG, msg_id="evt_other"), BODY, now=TS)


@pytest.mark.parametrize("offset", [301, -301, 10_000])
def test_verify_rejects_timestamp_outside_tolerance(offset: int) -> None:
    with pytest.raises(SignatureError, match="webhook-timestamp"):
        verify(SECRET, _headers(GOOD_SIG), BODY, now=TS + offset)
    verify(SECRET, _headers(GOOD_SIG), BODY, now=TS + offset, tolerance_s=abs(offset))


def test_verify_rejects_non_integer_timestamp() -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, {**_headers(GOOD_SIG), "webhook-timestamp": "1.7e9"}, BODY, now=TS)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_rejects_missing_header(missing: str) -> None:
    headers = _headers(GOOD_SIG)
    del headers[missing]
    with pytest.raises(SignatureError, match=missing):
        verify(SECRET, headers, BODY, now=TS)


def test_verify_rejects_wrong_version_only() -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, _headers(GOOD_SIG.replace("v1,", "v2,")), BODY, now=TS)
