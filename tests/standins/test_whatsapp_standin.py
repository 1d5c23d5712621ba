"""The WhatsApp Cloud API stand-in, run for real as a subprocess: its answers have Meta's shapes,
each behaviour chosen by the recipient's last two digits happens, and every notification is a
Meta webhook body signed with HMAC-SHA256 over the exact bytes a local receiver got."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest

from tests.support.net import closed_port
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.tls import make_tls
from tests.support.whatsapp_standin import WhatsAppStandIn

PHONE_NUMBER_ID = "106540352242922"
SECRET = "standin-app-secret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def standin(receiver: Receiver) -> Iterator[WhatsAppStandIn]:
    url = receiver.url_for("/carrier/v1/whatsapp")
    with WhatsAppStandIn(url, app_secret=SECRET, status_delay_ms=5) as standin:
        yield standin


def signed_value(request: ReceivedRequest) -> dict[str, Any]:
    """The `value` of a notification, after checking its signature over the raw bytes received
    and its envelope (one entry, one change of field `messages`)."""
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.header("X-Hub-Signature-256") == expected
    assert request.header("Content-Type") == "application/json"
    assert (request.method, request.path) == ("POST", "/carrier/v1/whatsapp")
    body = request.json()
    assert body["object"] == "whatsapp_business_account"
    [entry] = body["entry"]
    assert entry["id"].isdigit()
    [change] = entry["changes"]
    assert change["field"] == "messages"
    value: dict[str, Any] = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["display_phone_number"].isdigit()
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    return value


def statuses_of(requests: list[ReceivedRequest]) -> list[dict[str, Any]]:
    return [status for r in requests for status in signed_value(r)["statuses"]]


def assert_graph_error(body: dict[str, Any], code: int, *, error_data: bool = True) -> None:
    error = body["error"]
    assert error["code"] == code
    assert error["type"] == "OAuthException"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fbtrace_id"], str)
    assert error["fbtrace_id"]
    if error_data:
        assert error["error_data"]["messaging_product"] == "whatsapp"
        assert isinstance(error["error_data"]["details"], str)
    else:
        assert "error_data" not in error


async def test_an_accepted_send_answers_as_meta_and_reports_sent_delivered_read(
    standin: WhatsAppStandIn, receiver: Receiver
) -> None:
    status, body = await standin.send("4915112345600", "hello")
    assert status == 200
    wamid = body["messages"][0]["id"]
    assert body == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "4915112345600", "wa_id": "4915112345600"}],
        "messages": [{"id": wamid}],
    }
    assert wamid.startswith("wamid.")
    statuses = statuses_of(await receiver.await_for(3))
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for entry in statuses:
        assert entry["id"] == wamid
        assert entry["recipient_id"] == "4915112345600"
        assert isinstance(entry["timestamp"], str)
        assert entry["timestamp"].isdigit()
    assert statuses[0]["conversation"]["expiration_timestamp"].isdigit()
    assert statuses[0]["pricing"]["category"] == "service"
    [send] = standin.events("send")
    assert send == {
        "event": "send",
        "phone_number_id": PHONE_NUMBER_ID,
        "to": "4915112345600",
        "body": "hello",
        "wamid": wamid,
        "http_status": 200,
        "error_code": None,
    }
    notified = await standin.wait_for(lambda e: e["event"] == "notify", count=3)
    assert {(e["kind"], e["http_status"], e["count"]) for e in notified} == {("status", 200, 1)}
    await asyncio.sleep(0.1)
    assert len(receiver.requests) == 3


async def test_two_sends_get_different_wamids(standin: WhatsAppStandIn) -> None:
    first = await standin.send("4915112345600")
    second = await standin.send("4915112345600")
    assert first[1]["messages"][0]["id"] != second[1]["messages"][0]["id"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "standin-token"])
async def test_a_missing_or_wrong_token_is_401_code_190(
    standin: WhatsAppStandIn, receiver: Receiver, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    body["to"] = "4915100"
    body |= {"type": "text", "text": {"body": "hi"}}
    url = f"{standin.api_url}/{PHONE_NUMBER_ID}/messages"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as answer,
    ):
        assert answer.status == 401
        assert_graph_error(await answer.json(), 190, error_data=False)
    [send] = await standin.wait_for(lambda e: e["event"] == "send")
    assert (send["http_status"], send["error_code"], send["wamid"]) == (401, 190, None)
    await asyncio.sleep(0.05)
    assert receiver.requests == []


GOOD = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "4915112345600",
    "type": "text",
    "text": {"body": "hi"},
}


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in GOOD.items() if k != "recipient_type"},
        {**GOOD, "to": "+4915112345600"},
        {**GOOD, "messaging_product": "sms"},
        {**GOOD, "type": "image"},
        {**GOOD, "text": "hi"},
        {**GOOD, "text": {"body": ""}},
        {**GOOD, "text": {"body": "x" * 4097}},
        {**GOOD, "context": {"message_id": "wamid.x"}},
        [GOOD],
        "not json",
    ],
)
async def test_any_other_body_is_400_code_100(standin: WhatsAppStandIn, body: Any) -> None:
    url = f"{standin.api_url}/{PHONE_NUMBER_ID}/messages"
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {standin.token}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=headers) as answer,
    ):
        assert answer.status == 400
        assert_graph_error(await answer.json(), 100)


@pytest.mark.parametrize(
    ("to", "answers"),
    [
        ("4915112345601", [(400, 131026), (400, 131026), (400, 131026)]),
        ("4915112345602", [(429, 130429), (429, 130429), (200, None), (200, None)]),
        ("4915112345603", [(400, 131056), (200, None), (200, None)]),
        ("4915112345604", [(400, 131047), (400, 131047), (400, 131047)]),
        ("4915112345605", [(500, 131000), (200, None), (200, None)]),
    ],
)
async def test_refusals_by_the_recipients_last_two_digits(
    standin: WhatsAppStandIn, to: str, answers: list[tuple[int, int | None]]
) -> None:
    got: list[tuple[int, int | None]] = []
    for _ in answers:
        status, body = await standin.send(to)
        got.append((status, body["error"]["code"] if "error" in body else None))
        if "error" in body:
            assert_graph_error(body, body["error"]["code"])
            assert body["error"]["message"].startswith(f"(#{body['error']['code']}) ")
    assert got == answers
    sends = await standin.wait_for(lambda e: e["event"] == "send", count=len(answers))
    assert [(e["http_status"], e["error_code"]) for e in sends] == answers
    assert [e["wamid"] is None for e in sends] == [code is not None for _, code in answers]


async def test_refusals_are_counted_per_recipient(standin: WhatsAppStandIn) -> None:
    """Each number ending in 02 gets its own two 429s."""
    assert (await standin.send("4915100000002"))[0] == 429
    assert (await standin.send("4915199999902"))[0] == 429
    assert (await standin.send("4915100000002"))[0] == 429
    assert (await standin.send("4915100000002"))[0] == 200


@pytest.mark.parametrize(
    ("last_digits", "order"),
    [
        ("06", ["sent", "read"]),
        ("07", ["sent", "read", "delivered"]),
        ("08", ["sent", "delivered", "delivered", "read", "read"]),
        ("09", ["sent", "failed"]),
    ],
)
async def test_status_orders_by_the_recipients_last_two_digits(
    standin: WhatsAppStandIn, receiver: Receiver, last_digits: str, order: list[str]
) -> None:
    status, body = await standin.send("49151123456" + last_digits)
    assert status == 200
    statuses = statuses_of(await receiver.await_for(len(order)))
    assert [s["status"] for s in statuses] == order
    assert {s["id"] for s in statuses} == {body["messages"][0]["id"]}
    assert all(s["timestamp"].isdigit() for s in statuses)
    if last_digits == "09":
        [error] = statuses[-1]["errors"]
        assert (error["code"], error["title"]) == (131026, "Message undeliverable")
        assert isinstance(error["message"], str)
        assert isinstance(error["error_data"]["details"], str)
    await asyncio.sleep(0.1)
    assert len(receiver.requests) == len(order)


async def test_inbound_text_is_a_signed_messages_notification(
    standin: WhatsAppStandIn, receiver: Receiver
) -> None:
    receiver.respond_with(Reply(200, b"EVENT_RECEIVED"))
    text = "Grüße ✓ ok"  # non-ASCII: Meta escapes it as \\uXXXX, and signs those bytes
    answer = await standin.control(
        "inbound", {"from": "4915112345678", "phone_number_id": PHONE_NUMBER_ID, "text": text}
    )
    assert (answer["http_status"], answer["body"]) == (200, "EVENT_RECEIVED")
    [request] = receiver.requests
    assert b"\\u00fc" in request.body
    value = signed_value(request)
    assert value["contacts"] == [{"profile": {"name": "Test User"}, "wa_id": "4915112345678"}]
    [message] = value["messages"]
    assert message == {
        "from": "4915112345678",
        "id": answer["wamid"],
        "timestamp": message["timestamp"],
        "type": "text",
        "text": {"body": text},
    }
    assert message["timestamp"].isdigit()
    assert message["id"].startswith("wamid.")
    [notify] = await standin.wait_for(lambda e: e["event"] == "notify")
    assert (notify["kind"], notify["http_status"], notify["count"]) == ("message", 200, 1)


async def test_inbound_image_carries_the_media_object(
    standin: WhatsAppStandIn, receiver: Receiver
) -> None:
    command = {"from": "4915112345678", "phone_number_id": PHONE_NUMBER_ID, "type": "image"}
    await standin.control("inbound", command)
    [message] = signed_value(receiver.requests[0])["messages"]
    assert message["type"] == "image"
    assert "text" not in message
    assert set(message["image"]) == {"mime_type", "sha256", "id"}
    assert message["image"]["mime_type"] == "image/jpeg"


async def test_a_batch_of_500_statuses_is_one_notification(
    standin: WhatsAppStandIn, receiver: Receiver
) -> None:
    answer = await standin.control("batch", {"count": 500, "status": "delivered"})
    assert answer["http_status"] == 200
    [request] = receiver.requests
    statuses = signed_value(request)["statuses"]
    assert len(statuses) == 500
    assert len({s["id"] for s in statuses}) == 500
    assert {s["status"] for s in statuses} == {"delivered"}
    assert all(s["timestamp"].isdigit() for s in statuses)
    [notify] = await standin.wait_for(lambda e: e["event"] == "notify")
    assert (notify["kind"], notify["count"]) == ("batch", 500)


async def test_a_batch_reports_the_wamids_given_or_the_last_ones_sent(
    standin: WhatsAppStandIn, receiver: Receiver
) -> None:
    sent = [(await standin.send(f"49151123456{n}0"))[1]["messages"][0]["id"] for n in range(3)]
    await receiver.await_for(9)
    receiver.clear()
    await standin.control("batch", {"status": "read", "wamids": sent[:2]})
    await standin.control("batch", {"count": 4, "status": "read"})
    given, last = (signed_value(r)["statuses"] for r in receiver.requests)
    assert [(s["id"], s["recipient_id"]) for s in given] == [
        (sent[0], "4915112345600"),
        (sent[1], "4915112345610"),
    ]
    assert [s["id"] for s in last][:3] == sent
    assert last[3]["id"] not in sent


@pytest.mark.parametrize("mode", ["wrong", "missing"])
async def test_a_badly_signed_notification_and_what_the_receiver_answered(
    standin: WhatsAppStandIn, receiver: Receiver, mode: str
) -> None:
    _status, body = await standin.send("4915112345600")
    await receiver.await_for(3)
    receiver.clear()
    receiver.respond_with(Reply(401, b"bad signature"))
    answer = await standin.control("signature", {"mode": mode})
    assert (answer["http_status"], answer["body"]) == (401, "bad signature")
    [request] = receiver.requests
    right = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    header = request.header("X-Hub-Signature-256")
    if mode == "missing":
        assert header is None
    else:
        assert header is not None
        assert header.startswith("sha256=")
        assert header != right
    [entry] = request.json()["entry"][0]["changes"][0]["value"]["statuses"]
    assert entry["id"] == body["messages"][0]["id"]


async def test_verify_performs_metas_subscription_get(
    standin: WhatsAppStandIn, receiver: Receiver
) -> None:
    receiver.respond_with(Reply(200, b"1158201444"), Reply(403, b"forbidden"))
    answer = await standin.control("verify", {"verify_token": "vt", "challenge": "1158201444"})
    assert (answer["http_status"], answer["body"]) == (200, "1158201444")
    refused = await standin.control("verify", {"verify_token": "other", "challenge": "7"})
    assert refused["http_status"] == 403
    first, second = receiver.requests
    assert (first.method, first.path) == ("GET", "/carrier/v1/whatsapp")
    assert parse_qs(first.query_string) == {
        "hub.mode": ["subscribe"],
        "hub.verify_token": ["vt"],
        "hub.challenge": ["1158201444"],
    }
    assert parse_qs(second.query_string)["hub.verify_token"] == ["other"]


async def test_an_unreachable_notify_url_is_an_event_never_a_crash() -> None:
    url = f"http://127.0.0.1:{closed_port()}/carrier/v1/whatsapp"
    with WhatsAppStandIn(url, status_delay_ms=1) as standin:
        status, _ = await standin.send("4915112345600")
        assert status == 200
        failed = await standin.wait_for(lambda e: e["event"] == "notify", count=3)
        assert all(e["http_status"] is None and e["error"] for e in failed)
        answer = await standin.control("batch", {"count": 2})
        assert answer["http_status"] is None
        assert answer["error"]
        assert (await standin.send("4915112345600"))[0] == 200
        assert standin.returncode is None


async def test_https_notify_url_trusted_through_ca_file(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    with Receiver(tls=tls) as receiver:
        url = receiver.url_for("/carrier/v1/whatsapp")
        assert url.startswith("https://")
        with WhatsAppStandIn(url, app_secret=SECRET, ca_file=tls.ca_pem_path) as standin:
            await standin.send("4915112345606")
            statuses = statuses_of(await receiver.await_for(2))
    assert [s["status"] for s in statuses] == ["sent", "read"]


async def test_stopping_ends_the_process_cleanly(receiver: Receiver) -> None:
    """Closing its stdin ends it at once, with statuses still due (they are cancelled)."""
    standin = WhatsAppStandIn(receiver.url_for("/"), status_delay_ms=10_000)
    standin.start()
    assert standin.returncode is None
    await standin.send("4915112345600")
    standin.stop()
    assert standin.exit_code == 0
    assert receiver.requests == []
