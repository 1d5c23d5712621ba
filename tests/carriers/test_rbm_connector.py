"""The Google RBM connector in this process against the RBM stand-in (tests/standins/rbm.py, its
own process, tokens from a service-account key through google-auth), on both databases
(issue 12; SPEC §11.4).

The app is served on a real port so that the stand-in can post its signed events to
`/carrier/v1/rbm`; the workers (the queue's HTTP submitter) run beside it. The stand-in chooses
what it does by the phone's last two digits (see its docstring).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dlrhub.domain.status import Channel
from dlrhub.store.schema import carrier_parts, early_receipts, messages
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
from tests.support.rbm_standin import RbmStandin, require_rbm_standin, write_service_account_key
from tests.support.stack import make_settings, running_workers
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("db_url")

AGENT_NUMBER = "+15550783990"
USER = "+4915112345"  # + two digits: the stand-in's behaviour
FOREVER_MS = 600_000  # events the stand-in would post on its own never come within a test


@dataclass
class Live:
    hub: Hub
    http: httpx.AsyncClient  # the API on its real port
    standin: RbmStandin
    account: AccountKey  # registered the agent's number


@asynccontextmanager
async def live(db_url: str, key_dir: Path, *, event_delay_ms: float = 5) -> AsyncIterator[Live]:
    """The API on a real port with the workers, a stand-in posting to it, and an account that
    registered the agent's number for RCS."""
    require_rbm_standin()
    key = write_service_account_key(key_dir / "rbm-key.json")
    sock, base = reserve_port()
    standin = RbmStandin(key, notify_url=f"{base}/carrier/v1/rbm", event_delay_ms=event_delay_ms)
    await asyncio.to_thread(standin.start)
    settings = make_settings(
        db_url,
        rbm_api_url=standin.api_url,
        rbm_agent_id=standin.agent_id,
        rbm_credentials=key,
        rbm_client_token=standin.client_token,
    )
    hub = Hub.build(settings)
    try:
        async with serving_api(settings, hub, sock):
            created = await hub.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")
            await hub.accounts.add_number(created.account_id, AGENT_NUMBER, Channel.RCS)
            account = AccountKey(created.account_id, created.api_key)
            async with (
                running_workers(hub),
                httpx.AsyncClient(base_url=base, trust_env=False, timeout=10) as http,
            ):
                yield Live(hub, http, standin, account)
    finally:
        await asyncio.to_thread(standin.stop)
        await hub.db.dispose()


async def send(stack: Live, suffix: str) -> str:
    """A real RCS message to USER + suffix; its message id."""
    response = await stack.http.post(
        SEND.format(channel="rcs"),
        json={"destination": USER + suffix, "body": "Hello over RCS", "simulation": False},
        headers=stack.account.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["messageId"])


def sends_to(standin: RbmStandin, suffix: str) -> list[dict[str, Any]]:
    return [event for event in standin.events("send") if event["phone"] == USER + suffix]


async def test_sends_accepted_refused_for_good_and_retried(db_url: str, tmp_path: Path) -> None:
    """00 accepted; 01 (404 NOT_FOUND) and 04 (403 PERMISSION_DENIED) refused for good with
    Google's reason; 02 two 429s and 05 a 500: accepted at a later try, same messageId."""
    async with live(db_url, tmp_path) as stack:
        ids = {suffix: await send(stack, suffix) for suffix in ("00", "01", "02", "04", "05")}
        for suffix in ("00", "02", "05"):
            assert await wait_status(stack.hub, ids[suffix], "READ") is None
        for suffix, reason in (
            ("01", "RBM NOT_FOUND: Requested entity was not found."),
            ("04", "RBM PERMISSION_DENIED: The caller does not have permission"),
        ):
            assert await wait_status(stack.hub, ids[suffix], "ERROR") == reason
            [event] = await events_of(stack.hub, ids[suffix])
            payload = json.loads(event.payload)
            assert (event.event_type, payload["statusCode"], payload["error"]) == (
                "DELIVERY",
                6,
                reason,
            )
        tries = {
            suffix: [e["http_status"] for e in sends_to(stack.standin, suffix)] for suffix in ids
        }
        assert tries == {
            "00": [200],
            "01": [404],
            "02": [429, 429, 200],
            "04": [403],
            "05": [500, 200],
        }
        for suffix, message_id in ids.items():
            # Our message id is the messageId of every try: a retry cannot send it twice.
            assert {e["message_id"] for e in sends_to(stack.standin, suffix)} == {message_id}
        assert {e["text"] for e in stack.standin.events("send") if e["http_status"] == 200} == {
            "Hello over RCS"
        }
        assert all(e["ok"] for e in stack.standin.events("token"))
        for suffix in ("00", "02", "05"):
            kinds = sorted(e.event_type for e in await events_of(stack.hub, ids[suffix]))
            assert kinds == ["DELIVERY", "READ"], suffix


async def test_events_in_every_order_with_redeliveries_and_typing(
    db_url: str, tmp_path: Path
) -> None:
    """DELIVERED-READ, READ before DELIVERED (07), each event twice (08), IS_TYPING first (06):
    one DELIVERY and one READ each, DELIVERY first; IS_TYPING acknowledged and ignored."""
    orders = {"10": 2, "06": 3, "07": 2, "08": 4}  # suffix: events posted
    async with live(db_url, tmp_path) as stack:
        ids = {suffix: await send(stack, suffix) for suffix in orders}
        for message_id in ids.values():
            await wait_status(stack.hub, message_id, "READ")

        def all_posted() -> bool:
            return len(stack.standin.events("notify")) >= sum(orders.values())

        await wait_until(all_posted, timeout=15, what="every event posted")
        posted = stack.standin.events("notify")
        assert {e["http_status"] for e in posted} == {200}, posted
        [typing] = [e for e in posted if e["kind"] == "IS_TYPING"]
        assert counted(typing, "statuses") == {"other event": 1}
        for suffix, message_id in ids.items():
            found = await events_of(stack.hub, message_id)
            assert sorted(row.event_type for row in found) == ["DELIVERY", "READ"], suffix
            by_type = {row.event_type: row for row in found}
            assert json.loads(by_type["DELIVERY"].payload)["statusCode"] == 3
            assert by_type["DELIVERY"].created_at <= by_type["READ"].created_at
            view = await stack.http.get(f"{STATUS}/{message_id}", headers=stack.account.headers)
            assert (view.json()["status"], view.json()["channel"]) == ("READ", "RCS")


async def test_user_message_is_inbound_of_the_account_of_the_agent_number(
    db_url: str, tmp_path: Path
) -> None:
    async with live(db_url, tmp_path) as stack:
        await stack.hub.accounts.create(f"other-{uuid.uuid4().hex[:8]}")
        answer = await stack.standin.acontrol(
            "user_message", {"from": "+4915112345678", "text": "Hello agent"}
        )
        assert answer["http_status"] == 200, answer
        assert counted(answer, "replies") == {"taken": 1}
        [stored] = await events_of(stack.hub)
        assert (stored.event_type, stored.account_id) == ("INBOUND", stack.account.account_id)
        payload = json.loads(stored.payload)
        assert {k: v for k, v in payload.items() if k != "timestamp"} == {
            "eventType": "INBOUND",
            "source": "+4915112345678",
            "destination": AGENT_NUMBER,
            "text": "Hello agent",
            "channel": "RCS",
            "messageType": "TEXT",
        }


async def test_wrong_and_missing_signatures_are_refused_and_nothing_applies(
    db_url: str, tmp_path: Path
) -> None:
    async with live(db_url, tmp_path, event_delay_ms=FOREVER_MS) as stack:
        message_id = await send(stack, "00")

        async def recorded() -> bool:
            return await count(stack.hub, carrier_parts) == 1

        await wait_until(recorded, what="the send recorded")
        phone = USER + "00"
        for mode in ("wrong", "missing"):
            answer = await stack.standin.acontrol(
                "signature", {"mode": mode, "phone": phone, "messageId": message_id}
            )
            assert answer["http_status"] == 401, answer
            body = json.loads(answer["body"])
            assert (body["status"], body["title"]) == (401, "Unauthorized")
            assert "X-Goog-Signature" in body["detail"]
        assert await status_of(stack.hub, message_id) == ("SENT", None)
        assert await events_of(stack.hub) == []
        assert await count(stack.hub, early_receipts) == 0
        # The same event, signed: applied (the refusals above were the signature's doing).
        answer = await stack.standin.acontrol(
            "event", {"phone": phone, "eventType": "DELIVERED", "messageId": message_id}
        )
        assert (answer["http_status"], counted(answer, "statuses")) == (200, {"applied": 1})
        assert await status_of(stack.hub, message_id) == ("DELIVERED", None)


async def test_verification_request(db_url: str, tmp_path: Path) -> None:
    async with live(db_url, tmp_path) as stack:
        right = await stack.standin.acontrol("verify", {"secret": "7263541890"})
        assert (right["http_status"], right["body"]) == (200, "7263541890")
        wrong = await stack.standin.acontrol(
            "verify", {"client_token": "not-ours", "secret": "7263541890"}
        )
        assert wrong["http_status"] == 403, wrong
        assert json.loads(wrong["body"])["status"] == 403
        assert "7263541890" not in wrong["body"]


async def test_a_real_send_without_the_connector_is_422_naming_the_settings(db_url: str) -> None:
    settings = make_settings(db_url, rbm_agent_id="agent-without-key-or-token")
    hub = Hub.build(settings)
    try:
        created = await hub.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")
        app = create_app(settings, run_workers=False, hub=hub)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            response = await http.post(
                SEND.format(channel="rcs"),
                json={"destination": USER + "00", "body": "hello", "simulation": False},
                headers={"X-Api-Key": created.api_key},
            )
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        for setting in ("DLRHUB_RBM_AGENT_ID", "DLRHUB_RBM_CREDENTIALS", "DLRHUB_RBM_CLIENT_TOKEN"):
            assert setting in detail
        assert await count(hub, messages) == 0
    finally:
        await hub.db.dispose()
