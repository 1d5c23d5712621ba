"""Acceptance (issue 4): each event goes to the delivery-status webhook and to exactly the
richer webhooks matching its channel, report type and business number."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from dlrhub.config import Settings
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey, inbound, send
from tests.support.richer_webhooks import (
    NUMBER_A,
    NUMBER_B,
    RawReceiver,
    create_webhook,
    webhook_body,
)
from tests.support.stack import make_settings, running_workers
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def settings(db_url: str, tls: TestTLS) -> Settings:
    return make_settings(db_url, ca_bundle=tls.ca_pem_path)


async def test_each_endpoint_receives_exactly_its_events(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, tls: TestTLS
) -> None:
    for number in (NUMBER_A, NUMBER_B):
        await hub.accounts.add_waba_number(account.account_id, number)
    customer = "+393401230001"
    async with RawReceiver(tls) as receiver:
        ds = await api.post(
            f"{API}/webhooks/delivery-status",
            json={"callbackUrl": receiver.url_for("/ds")},
            headers=account.headers,
        )
        assert ds.status_code == 201
        webhooks = {
            "/sms-dlr": webhook_body("SMS", "DLR", "JSON", receiver.url_for("/sms-dlr")),
            "/wa-dlr-a": webhook_body(
                "WHATSAPP", "DLR", "POST", receiver.url_for("/wa-dlr-a"), waba_number=NUMBER_A
            ),
            "/wa-dlr-b": webhook_body(
                "WHATSAPP", "DLR", "XML", receiver.url_for("/wa-dlr-b"), waba_number=NUMBER_B
            ),
            "/wa-mo": webhook_body("WHATSAPP", "MO", "GET", receiver.url_for("/wa-mo")),
        }
        ids = {
            path: (await create_webhook(api, account, body))["id"]
            for path, body in webhooks.items()
        }

        async with running_workers(hub):
            sms = await send(api, account, "SMS", destination=customer, sender="ACME")
            wa_a = await send(
                api, account, "WHATSAPP", destination=customer, phoneNumberId=NUMBER_A
            )
            # Ends in 0006: ERROR, so a DELIVERY and no READ.
            wa_b = await send(
                api, account, "WHATSAPP", destination="+393401230006", phoneNumberId=NUMBER_B
            )
            wa_none = await send(api, account, "WHATSAPP", destination=customer)
            rcs = await send(api, account, "RCS", destination=customer, sender="ACME")
            mo = {
                ("WHATSAPP", NUMBER_A): await inbound(
                    api, account, "WHATSAPP", customer, NUMBER_A, "a"
                ),
                ("WHATSAPP", NUMBER_B): await inbound(
                    api, account, "WHATSAPP", customer, NUMBER_B, "b"
                ),
                ("SMS", NUMBER_A): await inbound(api, account, "SMS", customer, NUMBER_A, "c"),
                ("RCS", NUMBER_A): await inbound(api, account, "RCS", customer, NUMBER_A, "d"),
            }
            # 12 events to delivery-status; 1 + 2 + 1 + 2 to the richer webhooks.
            await receiver.await_for(18, timeout=20)

            async def all_settled() -> bool:
                page = (
                    await api.get(f"{API}/deliveries?limit=200", headers=account.headers)
                ).json()
                return all(item["status"] == "succeeded" for item in page["items"])

            await wait_until(all_settled, what="every delivery to succeed")

        # Name every event by its webhook-id, from what the delivery-status webhook received.
        events: dict[str, tuple[str, str]] = {}
        for request in receiver.requests:
            if request.path == "/ds":
                payload = request.json()
                key = payload.get("messageId") or payload["source"] + payload["destination"]
                events[request.header("webhook-id") or ""] = (payload["eventType"], key)
        assert len(events) == 12

        def event_ids(*wanted: tuple[str, str]) -> set[str]:
            return {event_id for event_id, event in events.items() if event in wanted}

        def received(path: str) -> list[str]:
            return [r.header("webhook-id") or "" for r in receiver.requests if r.path == path]

        assert sorted(received("/ds")) == sorted(events)
        assert received("/sms-dlr") == list(event_ids(("DELIVERY", sms["messageId"])))
        assert sorted(received("/wa-dlr-a")) == sorted(
            event_ids(("DELIVERY", wa_a["messageId"]), ("READ", wa_a["messageId"]))
        )
        assert received("/wa-dlr-b") == list(event_ids(("DELIVERY", wa_b["messageId"])))
        assert sorted(received("/wa-mo")) == sorted(
            [mo[("WHATSAPP", NUMBER_A)], mo[("WHATSAPP", NUMBER_B)]]
        )
        # The rest went to delivery-status only.
        for message in (wa_none, rcs):
            assert event_ids(("DELIVERY", message["messageId"]), ("READ", message["messageId"]))
        assert len(receiver.requests) == 18

        # Each endpoint got its own delivery, with its own log.
        page = (await api.get(f"{API}/deliveries?limit=200", headers=account.headers)).json()
        per_webhook: dict[str, int] = {}
        for item in page["items"]:
            per_webhook[item["webhookId"]] = per_webhook.get(item["webhookId"], 0) + 1
        assert per_webhook == {
            "delivery-status": 12,
            ids["/sms-dlr"]: 1,
            ids["/wa-dlr-a"]: 2,
            ids["/wa-dlr-b"]: 1,
            ids["/wa-mo"]: 2,
        }
