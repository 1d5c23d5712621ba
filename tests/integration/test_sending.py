"""Sending (SPEC §2), polling (§4), bad input and the signing secret (§7), on both databases."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dlrhub.wiring.hub import Hub
from tests.support.api_client import DS, INBOUND, SECRET, SEND, STATUS, AccountKey
from tests.support.assertions import ISO_Z, assert_problem, error_fields, is_uuid
from tests.support.contract import POLL_KEYS, SEND_KEYS
from tests.support.receiver import Receiver
from tests.support.stack import stack
from tests.support.stdwebhooks import SignatureError, verify
from tests.support.tls import make_tls

CHANNELS = ("sms", "whatsapp", "rcs")
BAD_KEY = {"X-Api-Key": "dlr_nobody"}


def _url(channel: str) -> str:
    return SEND.format(channel=channel)


def _msg(**fields: Any) -> dict[str, Any]:
    return {"destination": "+393401234567", "body": "Hello", "simulation": True, **fields}


async def _send(
    api: httpx.AsyncClient, key: AccountKey, channel: str = "sms", **fields: Any
) -> httpx.Response:
    return await api.post(_url(channel), json=_msg(**fields), headers=key.headers)


@pytest.fixture
async def other(hub: Hub, account: AccountKey) -> AccountKey:
    created = await hub.accounts.create("the-other-account")
    return AccountKey(created.account_id, created.api_key)


# ---------------------------------------------------------------- 201 and its shape


async def test_send_201_shape_on_every_channel(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    # WhatsApp sends only from one of the account's business numbers (SPEC §2).
    await hub.accounts.add_waba_number(account.account_id, "+393409876543")
    for channel in CHANNELS:
        await _check_201(api, account, channel)


async def _check_201(api: httpx.AsyncClient, account: AccountKey, channel: str) -> None:
    extra = {"phoneNumberId": "+393409876543"} if channel == "whatsapp" else {"sender": "ACME"}
    response = await _send(api, account, channel, messageId=f"order-{channel}", **extra)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == SEND_KEYS
    assert is_uuid(body["messageId"])
    assert body["customerMessageId"] == f"order-{channel}"
    assert body["channel"] == channel.upper()
    assert body["status"] == "SENT"
    assert body["totalParts"] == 1

    polled = await api.get(f"{STATUS}/order-{channel}", headers=account.headers)
    assert polled.status_code == 200
    view = polled.json()
    assert set(view) == POLL_KEYS
    assert view["messageId"] == body["messageId"]
    assert view["customerMessageId"] == f"order-{channel}"
    assert view["channel"] == channel.upper()
    assert view["destination"] == "+393401234567"
    assert view["status"] == "SENT"
    assert view["statusCode"] is None
    assert isinstance(view["description"], str)
    assert ISO_Z.match(view["sentAt"])
    assert view["deliveredAt"] is None
    assert view["readAt"] is None
    assert view["error"] is None


async def test_message_id_defaults_to_a_new_uuid(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    first = (await _send(api, account)).json()
    second = (await _send(api, account)).json()
    assert first["customerMessageId"] == first["messageId"]
    assert is_uuid(first["messageId"])
    assert first["messageId"] != second["messageId"]  # no messageId: never idempotent
    polled = await api.get(f"{STATUS}/{first['messageId']}", headers=account.headers)
    assert polled.json()["messageId"] == first["messageId"]


# ---------------------------------------------------------------- idempotency


async def test_same_message_id_same_body_returns_the_first_message(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    first = await _send(api, account, messageId="order-12345", sender="ACME")
    assert first.status_code == 201
    for _ in range(2):
        again = await _send(api, account, messageId="order-12345", sender="ACME")
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    batch = await api.get(STATUS, params={"ids": "order-12345"}, headers=account.headers)
    assert len(batch.json()["messages"]) == 1


CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("sms", {"body": "Hello!"}),
    ("sms", {"destination": "+393401234568"}),
    ("sms", {"sender": "OTHER"}),
    ("sms", {"enableNotification": False}),
    ("whatsapp", {}),  # the same fields on another channel
]


async def test_same_message_id_different_request_is_409(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    first = await _send(api, account, messageId="order-1", sender="ACME")
    assert first.status_code == 201
    for channel, change in CHANGES:
        fields = {"messageId": "order-1", "sender": "ACME", **change}
        assert_problem(await _send(api, account, channel, **fields), 409)
    # The first message is untouched, and the same request is still idempotent.
    polled = (await api.get(f"{STATUS}/order-1", headers=account.headers)).json()
    assert polled["messageId"] == first.json()["messageId"]
    assert polled["channel"] == "SMS"
    assert polled["destination"] == "+393401234567"
    again = await _send(api, account, messageId="order-1", sender="ACME")
    assert again.status_code == 200
    assert again.json() == first.json()


async def test_message_ids_are_scoped_to_the_account(
    api: httpx.AsyncClient, account: AccountKey, other: AccountKey
) -> None:
    mine = await _send(api, account, messageId="shared-id")
    theirs = await _send(api, other, messageId="shared-id", body="something else")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["messageId"] != theirs.json()["messageId"]


# ---------------------------------------------------------------- simulation false


async def test_simulation_false_without_carrier_is_422(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    for channel, fields in itertools.product(CHANNELS, ({"simulation": False}, {})):
        payload = {**_msg(messageId="real-1"), **fields}
        if not fields:
            del payload["simulation"]  # the default is false
        response = await api.post(_url(channel), json=payload, headers=account.headers)
        problem = assert_problem(response, 422)
        assert "carrier" in problem["detail"].lower()
    assert_problem(await api.get(f"{STATUS}/real-1", headers=account.headers), 404)


# ---------------------------------------------------------------- E.164 and parts

NOT_E164 = [
    "393401234567",
    "+0393401234567",
    "+39 340 1234567",
    "+39-340-1234567",
    "+3934",
    "+3934012345678901",
    "+39340123456a",
    "00393401234567",
    "+393401234567\n",
    "",
    "+",
]


async def test_non_e164_numbers_are_400_with_field_errors(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    for number in NOT_E164:
        for channel in CHANNELS:
            response = await _send(api, account, channel, destination=number)
            assert error_fields(assert_problem(response, 400)) == {"destination"}, number
        response = await _send(
            api, account, "whatsapp", phoneNumberId=number, messageId="waba-check"
        )
        assert "phoneNumberId" in error_fields(assert_problem(response, 400)), number
    # Every problem is reported at once.
    response = await _send(
        api, account, "whatsapp", destination="12", phoneNumberId="34", body="", messageId="x" * 65
    )
    fields = error_fields(assert_problem(response, 400))
    assert {"destination", "phoneNumberId", "body", "messageId"} <= fields


async def test_inbound_simulation_validates_numbers(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    good = {"source": "+393401234567", "destination": "+393409876543", "text": "Yes"}
    response = await api.post(
        INBOUND, json={**good, "channel": "WHATSAPP"}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    bad_bodies: list[dict[str, Any]] = [
        {**good, "channel": "WHATSAPP", "source": "3401234567"},
        {**good, "channel": "WHATSAPP", "destination": "+1"},
        {**good, "channel": "FAX"},
        {**good, "channel": "WHATSAPP", "text": ""},
        {**good, "channel": "WHATSAPP", "text": 5},
        {"channel": "SMS"},
    ]
    for body in bad_bodies:
        assert_problem(await api.post(INBOUND, json=body, headers=account.headers), 400)
    assert_problem(await api.post(INBOUND, json={**good, "channel": "SMS"}, headers=BAD_KEY), 401)


GSM_CASES = [
    ("a" * 160, 1),
    ("a" * 161, 2),
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("€" * 80, 1),  # an extension character costs two septets
    ("€" * 81, 2),
    ("a" * 1530, 10),
    ("ж" * 70, 1),  # UCS-2
    ("ж" * 71, 2),
    ("ж" * 134, 2),
    ("ж" * 135, 3),
    ("a" * 159 + "ж", 3),  # one non-GSM character makes the whole text UCS-2
    ("ж" * 670, 10),
    ("😀" * 35, 1),  # a surrogate pair is two UCS-2 units
    ("😀" * 36, 2),
]


async def test_sms_parts_follow_gsm_03_38(api: httpx.AsyncClient, account: AccountKey) -> None:
    for text, parts in GSM_CASES:
        response = await _send(api, account, body=text)
        assert response.status_code == 201, (text[:10], len(text), response.text)
        assert response.json()["totalParts"] == parts, (text[:10], len(text))


async def test_sms_over_ten_parts_is_400(api: httpx.AsyncClient, account: AccountKey) -> None:
    for text in ("a" * 1531, "ж" * 671, "€" * 766):
        response = await _send(api, account, body=text)
        assert error_fields(assert_problem(response, 400)) == {"body"}
    # The SMS limit does not apply to WhatsApp and RCS.
    for channel in ("whatsapp", "rcs"):
        response = await _send(api, account, channel, body="a" * 1531)
        assert response.status_code == 201, response.text
        assert response.json()["totalParts"] == 1


# ---------------------------------------------------------------- bad input matrix

WRONG_TYPES: list[dict[str, Any]] = [
    _msg(simulation="yes"),
    _msg(simulation="true"),
    _msg(simulation=1),
    _msg(enableNotification="no"),
    _msg(body=5),
    _msg(body=None),
    _msg(body=["a"]),
    _msg(destination=393401234567),
    _msg(messageId=12),
    _msg(messageId="x" * 65),
    _msg(messageId=""),
    _msg(sender=7),
    _msg(phoneNumberId=393409876543),
    {"body": "no destination", "simulation": True},
    {"destination": "+393401234567", "simulation": True},
    {},
]


async def test_wrong_types_and_missing_fields_are_400(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    for payload in WRONG_TYPES:
        for channel in CHANNELS:
            response = await api.post(_url(channel), json=payload, headers=account.headers)
            problem = assert_problem(response, 400)
            assert error_fields(problem), payload
    missing = await api.post(_url("sms"), json={}, headers=account.headers)
    assert {"destination", "body"} <= error_fields(assert_problem(missing, 400))
    polled = await api.get(STATUS, params={"ids": "x"}, headers=account.headers)
    assert polled.json() == {"messages": [], "notFound": ["x"]}  # nothing was stored


MALFORMED = [b"{not json", b'{"destination": "+393401234567",}', b"", b"[]", b'"text"', b"null"]


async def test_malformed_json_is_400(api: httpx.AsyncClient, account: AccountKey) -> None:
    headers = {**account.headers, "Content-Type": "application/json"}
    for raw in [*MALFORMED, b"\xff\xfe", b"{" * 5000]:
        for channel in CHANNELS:
            assert_problem(await api.post(_url(channel), content=raw, headers=headers), 400)
    # Without a JSON content type the body is still not a form: 400, never 500.
    response = await api.post(
        _url("sms"),
        content=b"destination=x",
        headers={**account.headers, "Content-Type": "text/plain"},
    )
    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code)


async def test_oversize_bodies_are_413(api: httpx.AsyncClient, account: AccountKey) -> None:
    big = json.dumps(_msg(body="a" * (65 * 1024))).encode()
    assert len(big) > 64 * 1024
    headers = {**account.headers, "Content-Type": "application/json"}
    # Announced by Content-Length ...
    assert_problem(await api.post(_url("sms"), content=big, headers=headers), 413)

    # ... or streamed in chunks without one.
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    response = await api.post(_url("whatsapp"), content=chunks(), headers=headers)
    assert_problem(response, 413)
    # Just under the limit is an ordinary 400 (too long for WhatsApp), not 413.
    near = json.dumps(_msg(body="a" * (60 * 1024))).encode()
    assert_problem(await api.post(_url("whatsapp"), content=near, headers=headers), 400)


# ---------------------------------------------------------------- polling


async def test_batch_poll_found_and_not_found(api: httpx.AsyncClient, account: AccountKey) -> None:
    for name in ("a-1", "a-2", "a-3"):
        assert (await _send(api, account, messageId=name)).status_code == 201
    for param in ("customerMessageIds", "ids"):
        response = await api.get(
            STATUS, params={param: "a-1,nope-1,a-3, a-2 ,nope-2"}, headers=account.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"messages", "notFound"}
        assert [m["customerMessageId"] for m in body["messages"]] == ["a-1", "a-3", "a-2"]
        assert all(set(m) == POLL_KEYS for m in body["messages"])
        assert body["notFound"] == ["nope-1", "nope-2"]


async def test_batch_poll_limit_is_100(api: httpx.AsyncClient, account: AccountKey) -> None:
    hundred = ",".join(f"id-{i}" for i in range(100))
    response = await api.get(
        STATUS, params={"customerMessageIds": hundred}, headers=account.headers
    )
    assert response.status_code == 200
    assert len(response.json()["notFound"]) == 100
    for param in ("customerMessageIds", "ids"):
        too_many = ",".join(f"id-{i}" for i in range(101))
        response = await api.get(STATUS, params={param: too_many}, headers=account.headers)
        assert_problem(response, 400)
    for params in ({}, {"ids": ""}, {"ids": " , ,"}):
        assert_problem(await api.get(STATUS, params=params, headers=account.headers), 400)


async def test_single_poll_404_and_channel_filter(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    assert (await _send(api, account, "whatsapp", messageId="wa-1")).status_code == 201
    assert_problem(await api.get(f"{STATUS}/unknown", headers=account.headers), 404)
    found = await api.get(f"{STATUS}/wa-1", params={"channel": "WHATSAPP"}, headers=account.headers)
    assert found.status_code == 200
    assert found.json()["channel"] == "WHATSAPP"
    for channel in ("SMS", "RCS"):
        response = await api.get(
            f"{STATUS}/wa-1", params={"channel": channel}, headers=account.headers
        )
        assert_problem(response, 404)
    invalid = await api.get(f"{STATUS}/wa-1", params={"channel": "FAX"}, headers=account.headers)
    assert_problem(invalid, 400)


async def test_another_accounts_message_is_404(
    api: httpx.AsyncClient, account: AccountKey, other: AccountKey
) -> None:
    assert (await _send(api, account, messageId="private-1")).status_code == 201
    assert_problem(await api.get(f"{STATUS}/private-1", headers=other.headers), 404)
    batch = await api.get(STATUS, params={"ids": "private-1"}, headers=other.headers)
    assert batch.json() == {"messages": [], "notFound": ["private-1"]}


# ---------------------------------------------------------------- 401


async def test_missing_or_unknown_api_key_is_401(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    assert (await _send(api, account, messageId="m-1")).status_code == 201
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        *(("POST", _url(channel), _msg()) for channel in CHANNELS),
        ("GET", f"{STATUS}/m-1", None),
        ("GET", f"{STATUS}?ids=m-1", None),
        ("GET", SECRET, None),
        ("POST", SECRET + "/rotate", None),
        ("POST", INBOUND, {"source": "+393401234567", "destination": "+393409876543"}),
    ]
    for headers in ({}, BAD_KEY, {"X-Api-Key": ""}, {"Authorization": f"Bearer {account.api_key}"}):
        for method, path, body in calls:
            response = await api.request(method, path, json=body, headers=headers)
            assert_problem(response, 401)
    # A key is not a prefix match: a truncated or extended key is refused.
    for near in (account.api_key[:-1], account.api_key + "x"):
        response = await api.get(f"{STATUS}/m-1", headers={"X-Api-Key": near})
        assert_problem(response, 401)


# ---------------------------------------------------------------- signing secret


async def test_signing_secret_get_and_rotate(api: httpx.AsyncClient, account: AccountKey) -> None:
    response = await api.get(SECRET, headers=account.headers)
    assert response.status_code == 200
    first = response.json()
    assert set(first) == {"secret", "createdAt", "previousSecretExpiresAt"}
    assert first["secret"].startswith("whsec_")
    assert len(base64.b64decode(first["secret"].removeprefix("whsec_"), validate=True)) >= 24
    assert ISO_Z.match(first["createdAt"])
    assert first["previousSecretExpiresAt"] is None
    again = (await api.get(SECRET, headers=account.headers)).json()
    assert again == first

    rotated = await api.post(SECRET + "/rotate", headers=account.headers)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["secret"] != first["secret"]
    assert second["secret"].startswith("whsec_")
    expires = datetime.fromisoformat(second["previousSecretExpiresAt"].replace("Z", "+00:00"))
    in_24h = datetime.now(UTC) + timedelta(hours=24)
    assert abs((expires - in_24h).total_seconds()) < 120
    assert (await api.get(SECRET, headers=account.headers)).json() == second


async def test_signing_secrets_are_per_account(
    api: httpx.AsyncClient, account: AccountKey, other: AccountKey
) -> None:
    mine = (await api.get(SECRET, headers=account.headers)).json()["secret"]
    theirs = (await api.get(SECRET, headers=other.headers)).json()["secret"]
    assert mine != theirs


async def test_after_rotation_both_secrets_sign(
    db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tls = make_tls(tmp_path_factory.mktemp("tls-rotate"))
    async with (
        Receiver(tls=tls) as receiver,
        stack(db_url, workers=True, ca_bundle=tls.ca_pem_path) as built,
    ):
        key = await built.new_account()
        await built.register(key, receiver.url_for("/hook"))
        old = await built.secret(key)
        await built.send(key, destination="+393400000001")
        [before] = await receiver.await_for(1)
        assert len(before.headers["webhook-signature"].split(" ")) == 1
        verify(old, before.headers, before.body)

        rotated = await built.api.post(SECRET + "/rotate", headers=key.headers)
        new = rotated.json()["secret"]
        await built.send(key, destination="+393400000002")
        [_, after] = await receiver.await_for(2)
        signatures = after.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2
        assert all(s.startswith("v1,") for s in signatures)
        for secret in (old, new):
            verify(secret, after.headers, after.body)
            # Each signature verifies with exactly one of the secrets.
            matching = [
                s
                for s in signatures
                if _verifies(secret, {**after.headers, "webhook-signature": s}, after.body)
            ]
            assert len(matching) == 1
        other = "whsec_" + base64.b64encode(b"k" * 24).decode()
        with pytest.raises(SignatureError):
            verify(other, after.headers, after.body)


def _verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    try:
        verify(secret, headers, body)
    except SignatureError:
        return False
    return True


# ---------------------------------------------------------------- never a 500

_EXAMPLES = hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
_TARGETS = [
    ("POST", _url("sms"), ["destination", "body", "sender", "messageId", "simulation"]),
    ("POST", _url("whatsapp"), ["destination", "body", "phoneNumberId", "enableNotification"]),
    ("POST", _url("rcs"), ["destination", "body", "sender", "messageId"]),
    ("POST", INBOUND, ["source", "destination", "channel", "text"]),
    ("POST", DS, ["callbackUrl", "url", "method"]),
    ("PUT", DS, ["callbackUrl", "url", "method"]),
]


@_EXAMPLES
@given(
    target=st.sampled_from(_TARGETS),
    data=st.data(),
    value=_JSON,
    whole_body=st.booleans(),
)
async def test_no_input_gets_a_500(
    api: httpx.AsyncClient,
    account: AccountKey,
    target: tuple[str, str, list[str]],
    data: st.DataObject,
    value: Any,
    whole_body: bool,
) -> None:
    method, path, fields = target
    if whole_body:
        body: Any = value
    else:
        base: dict[str, Any] = {
            "destination": "+393401234567",
            "source": "+393401234568",
            "body": "hi",
            "text": "hi",
            "channel": "SMS",
            "simulation": True,
            "callbackUrl": "https://hooks.example.com/dlr",
        }
        body = {**base, data.draw(st.sampled_from(fields)): value}
    response = await api.request(method, path, json=body, headers=account.headers)
    assert response.status_code < 500, (method, path, body, response.text)
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


@_EXAMPLES
@given(ids=st.text(max_size=200), channel=st.text(max_size=12), one=st.text(min_size=1))
async def test_no_poll_gets_a_500(
    api: httpx.AsyncClient, account: AccountKey, ids: str, channel: str, one: str
) -> None:
    batch = await api.get(STATUS, params={"ids": ids}, headers=account.headers)
    assert batch.status_code in (200, 400), batch.text
    if batch.status_code == 400:
        assert_problem(batch, 400)
    single = await api.get(
        f"{STATUS}/{quote(one, safe='')}", params={"channel": channel}, headers=account.headers
    )
    assert single.status_code in (400, 404), single.text
    assert_problem(single, single.status_code)


@pytest.mark.parametrize("one", ["/", "a/b", "%2F", "/a", "a/"])
async def test_polling_an_id_with_a_slash_is_a_404_problem(
    api: httpx.AsyncClient, account: AccountKey, one: str
) -> None:
    single = await api.get(f"{STATUS}/{quote(one, safe='')}", headers=account.headers)
    assert single.status_code == 404, single.text
    assert_problem(single, 404)
    raw = await api.get(f"{STATUS}/{one}", headers=account.headers)
    assert raw.status_code == 404, raw.text
    assert_problem(raw, 404)


async def test_nul_characters_are_refused_not_a_500(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    """PostgreSQL cannot store NUL in text: it must be a 400 (or a miss), never a 500."""
    for channel in CHANNELS:
        response = await _send(api, account, channel, body="a\x00b")
        assert error_fields(assert_problem(response, 400)) == {"body"}
    response = await _send(api, account, messageId="id\x00")
    assert error_fields(assert_problem(response, 400)) == {"messageId"}
    # Text that cannot be stored is refused wherever it is, query parameters too (SPEC §1).
    batch = await api.get(STATUS, params={"ids": "a\x00,b"}, headers=account.headers)
    assert error_fields(assert_problem(batch, 400)) == {"ids"}
    assert_problem(await api.get(f"{STATUS}/a%00b", headers=account.headers), 404)
    inbound = {"source": "+393401234567", "destination": "+393409876543", "channel": "SMS"}
    response = await api.post(INBOUND, json={**inbound, "text": "a\x00"}, headers=account.headers)
    assert error_fields(assert_problem(response, 400)) == {"text"}  # SPEC §1: one answer
