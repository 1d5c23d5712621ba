from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.signing import (
    SECRET_PREFIX,
    new_secret,
    secret_key,
    sign,
    signature_headers,
)

KEY = bytes(range(24))
SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
MSG_ID = "msg_2Lbq"
TIMESTAMP = 1775730600
BODY = b'{"eventType":"READ","messageId":"m-1"}'


def _expected(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    # Independent re-derivation of the Standard Webhooks signature.
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_new_secret_round_trips() -> None:
    assert SECRET_PREFIX == "whsec_"
    assert new_secret(KEY) == SECRET
    assert secret_key(new_secret(KEY)) == KEY


def test_new_secret_refuses_no_bytes() -> None:
    with pytest.raises(ValueError, match="random byte"):
        new_secret(b"")


def test_known_answer() -> None:
    assert (
        _expected(KEY, MSG_ID, TIMESTAMP, BODY) == "v1,pVhZ+up0WkR1rltPcvR1M+F3yJAf0Xxsk0TAY+2b9xI="
    )
    assert sign([SECRET], MSG_ID, TIMESTAMP, BODY) == _expected(KEY, MSG_ID, TIMESTAMP, BODY)


def test_standard_webhooks_example_vector() -> None:
    signature = sign(
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_two_secrets_give_two_signatures_in_order() -> None:
    other_key = b"\xff" * 32
    other = new_secret(other_key)
    signature = sign([SECRET, other], MSG_ID, TIMESTAMP, BODY)
    assert signature.split(" ") == [
        _expected(KEY, MSG_ID, TIMESTAMP, BODY),
        _expected(other_key, MSG_ID, TIMESTAMP, BODY),
    ]


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "body"),
    [
        ("msg_other", TIMESTAMP, BODY),
        (MSG_ID, TIMESTAMP + 1, BODY),
        (MSG_ID, TIMESTAMP, BODY + b" "),
    ],
)
def test_any_change_changes_the_signature(msg_id: str, timestamp: int, body: bytes) -> None:
    assert sign([SECRET], msg_id, timestamp, body) != sign([SECRET], MSG_ID, TIMESTAMP, BODY)


def test_signature_headers() -> None:
    assert signature_headers([SECRET], MSG_ID, TIMESTAMP, BODY) == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": _expected(KEY, MSG_ID, TIMESTAMP, BODY),
    }


@pytest.mark.parametrize(
    "secret",
    [
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",  # no prefix
        "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
        "whsec_",  # nothing after the prefix
        "whsec_not base64!",
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRY",  # bad padding
        "whsec_AAEC*wQF",
    ],
)
def test_malformed_secret_raises(secret: str) -> None:
    with pytest.raises(InvalidInput):
        secret_key(secret)
    with pytest.raises(InvalidInput):
        sign([SECRET, secret], MSG_ID, TIMESTAMP, BODY)


def test_sign_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one"):
        sign([], MSG_ID, TIMESTAMP, BODY)


def test_sign_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError):
        sign(SECRET, MSG_ID, TIMESTAMP, BODY)


@pytest.mark.parametrize(
    ("secret", "detail"),
    [
        ("whsk_AAECAwQF", "signing secret must start with 'whsec_'"),
        ("whsec_", "signing secret is empty"),
        ("whsec_AAECAwQ", "signing secret is not valid base64"),
        # Characters outside the alphabet are an error, not silently dropped (which would
        # leave the valid "AAECAwQF" and sign with a key the customer never saw).
        ("whsec_AAE*CAwQF", "signing secret is not valid base64"),
        ("whsec_AAEC AwQF", "signing secret is not valid base64"),
    ],
)
def test_a_malformed_secret_says_what_is_wrong(secret: str, detail: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        secret_key(secret)
    assert caught.value.detail == detail


def test_misuse_of_sign_and_new_secret_says_what_is_wrong() -> None:
    with pytest.raises(TypeError, match=r"^secrets must be a sequence of secrets, not a single"):
        sign(SECRET, MSG_ID, TIMESTAMP, BODY)
    with pytest.raises(ValueError, match=r"^at least one secret is needed to sign a webhook$"):
        sign([], MSG_ID, TIMESTAMP, BODY)
    with pytest.raises(ValueError, match=r"^a signing secret needs at least one random byte$"):
        new_secret(b"")
