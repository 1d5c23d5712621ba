"""The WhatsApp Cloud API connector in this process against the Meta stand-in
(tests/standins/whatsapp_cloud.py, its own process), on both databases (issue 12; SPEC §11.3).

The app is served on a real port so that the stand-in can post its signed notifications to
`/carrier/v1/whatsapp`; the workers (the queue's HTTP submitter) run beside it. The stand-in
chooses what it does by the recipient's last two digits (see its docstring).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from dlrhub.store.schema import carrier_parts, early_receipts, events, messages
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import SEND, STATUS, AccountKey
from tests.support.live_api import (
    count,
    counted,
    events_of,
    reserve_port,
    serving_api,
    status_of,
    wait_status,
)
from tests.support.stack import make_settings, running_workers
from tests.support.waiting import wait_until
from tests.support.whatsapp_standin import WhatsAppStandIn

pytestmark = pytest.mark.usefixtures("db_url")

BUSINESS = "+15550783881"
META_ID = "106540352242922"
VERIFY_TOKEN = "meta-verify-token"
USER = "+4915112345"  # + two digits: the stand-in's behaviour
FOREVER_MS = 600_000  # statuses the stand-in would post on its own never come within a test


@dataclass
class Live:
    hub: Hub
    http: httpx.AsyncClient  # the API on its real port
    standin: WhatsAppStandIn
    account: AccountKey


@asynccontextmanager
async def live(db_url: str, *, status_delay_ms: int = 5) -> AsyncIterator[Live]:
    """The API on a real port with the workers, a stand-in posting to it, and an account whose
    business number carries the Meta id the stand-in's notifications name."""
    sock, base = reserve_port()
    standin = WhatsAppStandIn(f"{base}/carrier/v1/whatsapp", status_delay_ms=status_delay_ms)
    await asyncio.to_thread(standin.start)
    settings = make_settings(
        db_url,
        whatsapp_api_url=standin.api_url,
        whatsapp_token=standin.token,
        whatsapp_app_secret=standin.app_secret,
        whatsapp_verify_token=VERIFY_TOKEN,
    )
    hub = Hub.build(settings)
    try:
        async with serving_api(settings, hub, sock):
            created = await hub.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")
            await hub.accounts.add_waba_number(created.account_id, BUSINESS, META_ID)
            account = AccountKey(created.account_id, created.api_key)
            async with (
                running_workers(hub),
                httpx.AsyncClient(base_url=base, trust_env=False, timeout=10) as http,
            ):
                yield Live(hub, http, standin, account)
    finally:
        await asyncio.to_thread(standin.stop)
        await hub.db.dispose()


async def send(stack: Live, suffix: str, *, to: str = USER) -> str:
    """A real WhatsApp message to `to` + suffix; its message id."""
    response = await stack.http.post(
        SEND.format(channel="whatsapp"),
        json={
            "destination": to + suffix,
            "body": "Hello on WhatsApp",
            "phoneNumberId": BUSINESS,
            "simulation": False,
        },
        headers=stack.account.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["messageId"])


def sends_to(standin: WhatsAppStandIn, suffix: str) -> list[dict[str, Any]]:
    wanted = (USER + suffix).removeprefix("+")
    return [event for event in standin.events("send") if event["to"] == wanted]


def problem(answer: dict[str, Any]) -> dict[str, Any]:
    """The JSON body the notify URL answered the stand-in."""
    body: dict[str, Any] = json.loads(answer["body"])
    return body


async def test_sends_accepted_refused_for_good_and_retried(db_url: str) -> None:
    """00 accepted; 01 and 04 refused for good with Meta's reason; 02 two 429s (130429), 03 a
    pair rate limit (131056), 05 a 500: each accepted at a later try."""
    async with live(db_url) as stack:
        ids = {suffix: await send(stack, suffix) for suffix in ("00", "01", "02", "03", "04", "05")}
        for suffix in ("00", "02", "03", "05"):
            assert await wait_status(stack.hub, ids[suffix], "READ") is None
        for suffix, code, reason in (
            ("01", 131026, "Message Undeliverable."),
            ("04", 131047, "More than 24 hours since the customer last replied."),
        ):
            error = await wait_status(stack.hub, ids[suffix], "ERROR")
            assert error is not None
            assert f"WhatsApp error {code}" in error
            assert reason in error
            [event] = await events_of(stack.hub, ids[suffix])
            payload = json.loads(event.payload)
            assert (event.event_type, payload["status"], payload["statusCode"]) == (
                "DELIVERY",
                "ERROR",
                6,
            )
            assert payload["error"] == error
        tries = {
            suffix: [e["http_status"] for e in sends_to(stack.standin, suffix)] for suffix in ids
        }
        assert tries == {
            "00": [200],
            "01": [400],
            "02": [429, 429, 200],
            "03": [400, 200],
            "04": [400],
            "05": [500, 200],
        }
        assert [e["error_code"] for e in sends_to(stack.standin, "02")] == [130429, 130429, None]
        for event in stack.standin.events("send"):
            assert event["phone_number_id"] == META_ID
            assert event["body"] == "Hello on WhatsApp"
        for suffix in ("00", "02", "03", "05"):
            kinds = [e.event_type for e in await events_of(stack.hub, ids[suffix])]
            assert sorted(kinds) == ["DELIVERY", "READ"], (suffix, kinds)


async def test_statuses_in_every_order_with_duplicates_and_failures(db_url: str) -> None:
    """sent-delivered-read, sent-read (06), read before delivered (07), every status twice
    (08), failed (09): one DELIVERY and one READ each, DELIVERY first; failed is ERROR with
    Meta's errors[0]."""
    orders = {"10": 3, "06": 2, "07": 3, "08": 5, "09": 2}  # suffix: notifications
    async with live(db_url) as stack:
        ids = {suffix: await send(stack, suffix) for suffix in orders}
        for suffix in ("10", "06", "07", "08"):
            await wait_status(stack.hub, ids[suffix], "READ")
        error = await wait_status(stack.hub, ids["09"], "ERROR")
        # Every notification answered before the counts are read: late ones are the point.
        notified = await stack.standin.wait_for(
            lambda e: e["event"] == "notify" and e["kind"] == "status", count=sum(orders.values())
        )
        assert {e["http_status"] for e in notified} == {200}
        for suffix in ("10", "06", "07", "08"):
            found = await events_of(stack.hub, ids[suffix])
            by_type = {row.event_type: row for row in found}
            assert sorted(row.event_type for row in found) == ["DELIVERY", "READ"], suffix
            delivered, read = by_type["DELIVERY"], by_type["READ"]
            assert json.loads(delivered.payload)["statusCode"] == 3
            assert json.loads(read.payload)["eventType"] == "READ"
            assert delivered.created_at <= read.created_at, suffix
            view = await stack.http.get(f"{STATUS}/{ids[suffix]}", headers=stack.account.headers)
            assert (view.json()["status"], view.json()["readAt"] is not None) == ("READ", True)
        assert error == "WhatsApp error 131026: Message undeliverable: Message Undeliverable."
        [failed] = await events_of(stack.hub, ids["09"])
        payload = json.loads(failed.payload)
        assert (payload["status"], payload["statusCode"], payload["error"]) == ("ERROR", 6, error)


async def test_inbound_text_and_image_reach_the_owner_of_the_meta_id(db_url: str) -> None:
    async with live(db_url) as stack:
        other = await stack.hub.accounts.create(f"other-{uuid.uuid4().hex[:8]}")
        await stack.hub.accounts.add_waba_number(other.account_id, "+15550783882", "2090000001")
        text = await stack.standin.control(
            "inbound", {"from": "4915112345678", "phone_number_id": META_ID, "text": "Hi there"}
        )
        image = await stack.standin.control(
            "inbound", {"from": "4915112345678", "phone_number_id": META_ID, "type": "image"}
        )
        stray = await stack.standin.control(
            "inbound", {"from": "4915112345678", "phone_number_id": "999999999999999"}
        )
        for answer, replies in ((text, "taken"), (image, "taken"), (stray, "unknown")):
            assert answer["http_status"] == 200, answer
            assert counted(answer, "replies") == {replies: 1}
        stored = await events_of(stack.hub)
        assert [(row.event_type, row.account_id) for row in stored] == [
            ("INBOUND", stack.account.account_id),
            ("INBOUND", stack.account.account_id),
        ]
        payloads = [json.loads(row.payload) for row in stored]
        assert [(p["messageType"], p["text"]) for p in payloads] == [
            ("TEXT", "Hi there"),
            ("IMAGE", "image"),
        ]
        for payload in payloads:
            assert (payload["source"], payload["destination"]) == ("+4915112345678", BUSINESS)
            assert (payload["channel"], payload["eventType"]) == ("WHATSAPP", "INBOUND")


async def test_wrong_and_missing_signatures_are_refused_and_nothing_applies(db_url: str) -> None:
    async with live(db_url, status_delay_ms=FOREVER_MS) as stack:
        message_id = await send(stack, "00")
        [sent] = await stack.standin.wait_for(lambda e: e["event"] == "send", timeout=15)
        await wait_until(lambda: count(stack.hub, carrier_parts), what="the wamid recorded")
        for mode in ("wrong", "missing"):
            answer = await stack.standin.control(
                "signature", {"mode": mode, "wamid": sent["wamid"], "status": "read"}
            )
            assert answer["http_status"] == 401, answer
            body = problem(answer)
            assert (body["status"], body["title"]) == (401, "Unauthorized")
            assert "X-Hub-Signature-256" in body["detail"]
        assert await status_of(stack.hub, message_id) == ("SENT", None)
        assert await events_of(stack.hub) == []
        assert await count(stack.hub, early_receipts) == 0
        # The same status, signed: applied (the refusals above were the signature's doing).
        answer = await stack.standin.control("batch", {"wamids": [sent["wamid"]], "status": "read"})
        assert (answer["http_status"], counted(answer, "statuses")) == (200, {"applied": 1})
        assert await status_of(stack.hub, message_id) == ("READ", None)


async def test_verification_handshake(db_url: str) -> None:
    async with live(db_url) as stack:
        right = await stack.standin.control(
            "verify", {"verify_token": VERIFY_TOKEN, "challenge": "1158201444"}
        )
        assert (right["http_status"], right["body"]) == (200, "1158201444")
        wrong = await stack.standin.control(
            "verify", {"verify_token": "not-ours", "challenge": "1158201444"}
        )
        assert wrong["http_status"] == 403, wrong
        assert problem(wrong)["status"] == 403
        assert "1158201444" not in wrong["body"]


async def test_a_batch_of_500_statuses_is_applied_and_answered_fast(db_url: str) -> None:
    async with live(db_url, status_delay_ms=FOREVER_MS) as stack:
        for start in range(0, 500, 50):  # 500 recipients, each ending 00: accepted at once
            await asyncio.gather(
                *(send(stack, "00", to=f"+4916{n:06d}") for n in range(start, start + 50))
            )

        async def recorded() -> bool:
            return await count(stack.hub, carrier_parts) == 500

        await wait_until(recorded, timeout=60, what="500 wamids recorded")
        started = time.monotonic()
        answer = await stack.standin.control("batch", {"count": 500, "status": "delivered"})
        elapsed = time.monotonic() - started
        # The stand-in's event line may be read after its control call answered: wait for it.
        [notified] = await stack.standin.wait_for(
            lambda e: e["event"] == "notify" and e["kind"] == "batch"
        )
        print(f"500 statuses in one notification: 200 after {notified['elapsed_ms']} ms")
        assert answer["http_status"] == 200, answer
        assert counted(answer, "statuses") == {"applied": 500}
        assert elapsed < 5.0
        async with stack.hub.db.reading() as conn:
            rows = await conn.execute(
                select(messages.c.status, func.count()).group_by(messages.c.status)
            )
            assert {row[0]: row[1] for row in rows} == {"DELIVERED": 500}
        assert await count(stack.hub, events) == 500


async def test_unknown_wamids_are_acknowledged_and_counted(db_url: str) -> None:
    async with live(db_url) as stack:
        unknown = [f"wamid.HBgLdW5rbm93bi0{n}" for n in range(3)]
        answer = await stack.standin.control(
            "batch", {"wamids": unknown, "status": "delivered", "phone_number_id": META_ID}
        )
        assert answer["http_status"] == 200, answer
        assert counted(answer, "statuses") == {"unmatched": 3}
        metrics = await stack.http.get("/metrics")
        assert metrics.status_code == 200
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(metrics.text)
            for sample in family.samples
        }
        key = (
            "dlrhub_provider_statuses_total",
            (("outcome", "unmatched"), ("provider", "whatsapp")),
        )
        assert samples[key] == 3.0
        assert await events_of(stack.hub) == []


async def test_a_real_send_without_the_connector_is_422_naming_the_settings(db_url: str) -> None:
    settings = make_settings(db_url, whatsapp_token="set-but-no-app-secret")
    hub = Hub.build(settings)
    try:
        created = await hub.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")
        await hub.accounts.add_waba_number(created.account_id, BUSINESS, META_ID)
        app = create_app(settings, run_workers=False, hub=hub)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            response = await http.post(
                SEND.format(channel="whatsapp"),
                json={
                    "destination": USER + "00",
                    "body": "hello",
                    "phoneNumberId": BUSINESS,
                    "simulation": False,
                },
                headers={"X-Api-Key": created.api_key},
            )
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "DLRHUB_WHATSAPP_TOKEN" in detail
        assert "DLRHUB_WHATSAPP_APP_SECRET" in detail
        assert await count(hub, messages) == 0
    finally:
        await hub.db.dispose()


def _signed(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def test_hostile_notifications_are_acknowledged_or_refused_never_a_500(db_url: str) -> None:
    """Correctly signed, oddly built: a NUL or a lone surrogate in a reply's text, ids with a
    NUL or far too long. Each is acknowledged (Meta would resend a refused batch for days) and
    nothing unstorable is stored; a body nested past the JSON parser's depth is a 400."""
    async with live(db_url) as stack:
        value = {
            "metadata": {"phone_number_id": META_ID},
            "statuses": [
                {"id": "wamid.\u0000x", "status": "delivered", "timestamp": "1"},
                {"id": "wamid." + "x" * 200, "status": "delivered", "timestamp": "1"},
            ],
            "messages": [
                {"from": "4915112345678", "id": "a", "type": "text", "text": {"body": "a\u0000b"}},
                {"from": "4915112345678", "id": "b", "type": "text", "text": {"body": "\ud800"}},
            ],
        }
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
            }
        ).encode()
        answer = await stack.http.post(
            "/carrier/v1/whatsapp", content=body, headers=_signed(stack.standin.app_secret, body)
        )
        assert answer.status_code == 200, answer.text
        assert {k: n for k, n in answer.json()["replies"].items() if n} == {"refused": 2}
        assert await events_of(stack.hub) == []
        # The NUL id is not read at all; the long one names nothing of ours and is not kept.
        assert {k: n for k, n in answer.json()["statuses"].items() if n} == {"unmatched": 1}
        assert await count(stack.hub, early_receipts) == 0
        nested = b"[" * 100_000 + b"]" * 100_000
        deep = await stack.http.post(
            "/carrier/v1/whatsapp",
            content=nested,
            headers=_signed(stack.standin.app_secret, nested),
        )
        assert deep.status_code == 400, deep.text
        assert deep.headers["content-type"].startswith("application/problem+json")
