"""The delivery log and replay (SPEC §9): list with filters and cursors, one delivery with its
attempts, retry one now, recover every failed or dead one since a time."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from dlrhub.config import Settings
from dlrhub.store.engine import SUBMISSIONS_CHANNEL
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey, inbound
from tests.support.assertions import assert_problem
from tests.support.receiver import Receiver, Reply
from tests.support.richer_webhooks import create_webhook, webhook_body
from tests.support.stack import make_settings, running_workers
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

CUSTOMER = "+393401230001"
BUSINESS = "+393409876543"
ITEM_FIELDS = {
    "id",
    "eventId",
    "webhookId",
    "eventType",
    "status",
    "attempts",
    "nextAttemptAt",
    "createdAt",
}


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def settings(db_url: str, tls: TestTLS) -> Settings:
    # One retry, a minute later: a failing delivery stays `failed` for the whole test, and a
    # retried one that fails again is `dead`. No circuit breaker pause in the way.
    return make_settings(
        db_url, ca_bundle=tls.ca_pem_path, retry_schedule="60", circuit_threshold=1000
    )


async def all_deliveries(
    api: httpx.AsyncClient, account: AccountKey, **params: Any
) -> list[dict[str, Any]]:
    response = await api.get(
        f"{API}/deliveries", params={"limit": 200, **params}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def statuses(api: httpx.AsyncClient, account: AccountKey) -> dict[tuple[str, str], str]:
    """(webhookId, eventId) -> status."""
    return {(d["webhookId"], d["eventId"]): d["status"] for d in await all_deliveries(api, account)}


async def wait_for_statuses(
    api: httpx.AsyncClient, account: AccountKey, expected: dict[tuple[str, str], str]
) -> None:
    async def reached() -> bool:
        current = await statuses(api, account)
        return all(current.get(key) == status for key, status in expected.items())

    await wait_until(reached, what=f"statuses {expected}")


async def retry(api: httpx.AsyncClient, account: AccountKey, delivery_id: str) -> dict[str, Any]:
    response = await api.post(f"{API}/deliveries/{delivery_id}/retry", headers=account.headers)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_list_filter_page_detail_and_retry(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, tls: TestTLS
) -> None:
    async with Receiver(tls) as receiver:
        receiver.default_reply = Reply(500, body=b"nope " * 400)
        ds = await api.post(
            f"{API}/webhooks/delivery-status",
            json={"callbackUrl": receiver.url_for("/ds")},
            headers=account.headers,
        )
        assert ds.status_code == 201
        w1 = await create_webhook(
            api, account, webhook_body("WHATSAPP", "MO", "JSON", receiver.url_for("/w1"))
        )
        async with running_workers(hub):
            events = [
                await inbound(api, account, "WHATSAPP", CUSTOMER, BUSINESS, f"m{i}")
                for i in range(5)
            ]
            await wait_for_statuses(
                api,
                account,
                {(w, e): "failed" for w in ("delivery-status", w1["id"]) for e in events},
            )

            # Every page, newest first, through opaque cursors.
            seen: list[dict[str, Any]] = []
            cursor: str | None = None
            pages = 0
            while True:
                params: dict[str, Any] = {"limit": 3}
                if cursor is not None:
                    params["cursor"] = cursor
                page = (
                    await api.get(f"{API}/deliveries", params=params, headers=account.headers)
                ).json()
                pages += 1
                assert len(page["items"]) <= 3
                seen.extend(page["items"])
                cursor = page["nextCursor"]
                if cursor is None:
                    break
            assert pages == 4
            assert len({d["id"] for d in seen}) == len(seen) == 10
            assert all(set(d) == ITEM_FIELDS for d in seen)
            created = [d["createdAt"] for d in seen]
            assert created == sorted(created, reverse=True)
            assert seen == await all_deliveries(api, account)

            # Filters.
            only_w1 = await all_deliveries(api, account, webhookId=w1["id"])
            assert {d["eventId"] for d in only_w1} == set(events)
            assert {d["webhookId"] for d in only_w1} == {w1["id"]}
            only_ds = await all_deliveries(api, account, webhookId="delivery-status")
            assert {d["eventId"] for d in only_ds} == set(events)
            assert len(await all_deliveries(api, account, status="failed")) == 10
            assert await all_deliveries(api, account, status="succeeded") == []
            future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
            assert await all_deliveries(api, account, since=future) == []
            assert len(await all_deliveries(api, account, since="2020-01-01T00:00:00Z")) == 10
            assert await all_deliveries(api, account, webhookId="no-such-webhook") == []

            # One delivery and its attempts.
            [first] = [d for d in only_w1 if d["eventId"] == events[0]]
            assert first["eventType"] == "INBOUND"
            assert first["attempts"] == 1
            assert first["nextAttemptAt"] is not None
            detail = (
                await api.get(f"{API}/deliveries/{first['id']}", headers=account.headers)
            ).json()
            assert {k: v for k, v in detail.items() if k != "attemptLog"} == first
            [attempt] = detail["attemptLog"]
            assert set(attempt) == {
                "attemptedAt",
                "durationMs",
                "responseStatus",
                "responseBody",
                "error",
            }
            assert attempt["responseStatus"] == 500
            assert attempt["responseBody"] == ("nope " * 400)[:1024]
            assert attempt["error"] == "HTTP 500"
            assert attempt["durationMs"] >= 0

            # Retry now: sent again with the original webhook-id (the event id).
            receiver.default_reply = Reply(200)
            receiver.clear()
            queued = await retry(api, account, first["id"])
            assert queued["status"] == "pending"
            assert queued["attempts"] == 1
            [again] = await receiver.await_for(1)
            assert again.path == "/w1"
            assert again.header("webhook-id") == events[0]
            await wait_for_statuses(api, account, {(w1["id"], events[0]): "succeeded"})
            detail = (
                await api.get(f"{API}/deliveries/{first['id']}", headers=account.headers)
            ).json()
            assert detail["attempts"] == 2
            assert detail["nextAttemptAt"] is None
            assert [a["responseStatus"] for a in detail["attemptLog"]] == [500, 200]

            # Even a succeeded delivery can be sent again.
            await retry(api, account, first["id"])
            await receiver.await_for(2)
            assert [r.header("webhook-id") for r in receiver.requests] == [events[0]] * 2


def crafted_cursor(created_at: str) -> str:
    raw = json.dumps([created_at, "some-id"]).encode()
    return base64.urlsafe_b64encode(raw).decode()


async def test_bad_queries_are_400_and_foreign_deliveries_404(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    for params in (
        {"status": "bogus"},
        {"limit": 0},
        {"limit": 201},
        {"limit": "many"},
        {"cursor": "not-a-cursor"},
        {"cursor": "W10"},
        {"cursor": crafted_cursor("0001-01-01T00:00:00+05:00")},
        {"cursor": crafted_cursor("2026-01-01T00:00:00")},
        {"since": "yesterday"},
        {"since": "0001-01-01T00:00:00+01:00"},
    ):
        response = await api.get(f"{API}/deliveries", params=params, headers=account.headers)
        problem = assert_problem(response, 400)
        assert [e["field"] for e in problem["errors"]] == [next(iter(params))], params
    for response in (
        await api.get(f"{API}/deliveries/nope", headers=account.headers),
        await api.post(f"{API}/deliveries/nope/retry", headers=account.headers),
        await api.post(
            f"{API}/webhooks/nope/recover",
            json={"since": "2026-01-01T00:00:00Z"},
            headers=account.headers,
        ),
        await api.post(
            f"{API}/webhooks/delivery-status/recover",
            json={"since": "2026-01-01T00:00:00Z"},
            headers=account.headers,
        ),
    ):
        assert_problem(response, 404)
    for body in ({}, {"since": "soon"}, {"since": None}, []):
        response = await api.post(
            f"{API}/webhooks/delivery-status/recover", json=body, headers=account.headers
        )
        assert assert_problem(response, 400)["errors"], body
    assert_problem(await api.get(f"{API}/deliveries"), 401)

    # Another account's delivery is not found, to read or to retry.
    other = await hub.accounts.create("other-log")
    other_key = AccountKey(other.account_id, other.api_key)
    ds = await api.post(
        f"{API}/webhooks/delivery-status",
        json={"callbackUrl": "https://127.0.0.1:9/x"},
        headers=other_key.headers,
    )
    assert ds.status_code == 201
    await inbound(api, other_key, "SMS", CUSTOMER, BUSINESS, "hi")
    [theirs] = await all_deliveries(api, other_key)
    assert await all_deliveries(api, account) == []
    path = f"{API}/deliveries/{theirs['id']}"
    assert_problem(await api.get(path, headers=account.headers), 404)
    assert_problem(await api.post(f"{path}/retry", headers=account.headers), 404)
    [still] = await all_deliveries(api, other_key)  # the refused retry requeued nothing
    assert (still["status"], still["attempts"]) == (theirs["status"], theirs["attempts"])


async def test_recover_requeues_exactly_the_failed_since_then(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, tls: TestTLS
) -> None:
    async with Receiver(tls) as receiver:
        receiver.default_reply = Reply(503)
        ds = await api.post(
            f"{API}/webhooks/delivery-status",
            json={"callbackUrl": receiver.url_for("/ds")},
            headers=account.headers,
        )
        assert ds.status_code == 201
        w1, w2 = [
            (
                await create_webhook(
                    api, account, webhook_body("WHATSAPP", "MO", "GET", receiver.url_for(path))
                )
            )["id"]
            for path in ("/w1", "/w2")
        ]
        webhooks = ("delivery-status", w1, w2)

        async with running_workers(hub):

            async def emit(text: str) -> str:
                return await inbound(api, account, "WHATSAPP", CUSTOMER, BUSINESS, text)

            async def kill(event_id: str) -> None:
                """Retry a failed delivery to the richer webhooks once more: it dies."""
                for item in await all_deliveries(api, account):
                    if item["eventId"] == event_id and item["webhookId"] != "delivery-status":
                        await retry(api, account, item["id"])
                await wait_for_statuses(
                    api, account, {(w1, event_id): "dead", (w2, event_id): "dead"}
                )

            e1, e2 = await emit("one"), await emit("two")
            await wait_for_statuses(
                api, account, {(w, e): "failed" for w in webhooks for e in (e1, e2)}
            )
            await kill(e1)
            await asyncio.sleep(0.05)
            since = datetime.now(UTC)
            await asyncio.sleep(0.05)
            e3, e4 = await emit("three"), await emit("four")
            await wait_for_statuses(
                api, account, {(w, e): "failed" for w in webhooks for e in (e3, e4)}
            )
            await kill(e3)
            receiver.default_reply = Reply(200)
            e5 = await emit("five")
            await wait_for_statuses(api, account, {(w, e5): "succeeded" for w in webhooks})
            before = await statuses(api, account)

            receiver.clear()
            response = await api.post(
                f"{API}/webhooks/{w1}/recover",
                json={"since": since.isoformat()},
                headers=account.headers,
            )
            assert response.status_code == 200, response.text
            assert response.json() == {"requeued": 2}
            requests = await receiver.await_for(2)
            await wait_for_statuses(api, account, {(w1, e3): "succeeded", (w1, e4): "succeeded"})
            # Nothing else follows: a marker event queued now is delivered after anything
            # requeued by mistake (claims take the most overdue first).
            marker = await emit("marker")
            await wait_for_statuses(api, account, {(w, marker): "succeeded" for w in webhooks})

            # Exactly e3 (dead) and e4 (failed) of w1, with their original webhook-id.
            assert sorted((r.path, r.header("webhook-id")) for r in receiver.requests) == sorted(
                [("/w1", e3), ("/w1", e4), ("/ds", marker), ("/w1", marker), ("/w2", marker)]
            )
            assert {r.header("webhook-id") for r in requests} == {e3, e4}
            after = await statuses(api, account)
            changed = {key for key in after if after.get(key) != before.get(key)}
            assert changed == {(w1, e3), (w1, e4)} | {(w, marker) for w in webhooks}

            # The delivery-status webhook recovers the same way, by name.
            receiver.clear()
            response = await api.post(
                f"{API}/webhooks/delivery-status/recover",
                json={"since": since.isoformat()},
                headers=account.headers,
            )
            assert response.json() == {"requeued": 2}  # e3 and e4 (failed); e5 succeeded
            await receiver.await_for(2)
            await wait_for_statuses(
                api,
                account,
                {("delivery-status", e3): "succeeded", ("delivery-status", e4): "succeeded"},
            )
            assert sorted(r.header("webhook-id") or "" for r in receiver.requests) == sorted(
                [e3, e4]
            )
            assert all(r.path == "/ds" for r in receiver.requests)

            # Nothing left to recover.
            again = await api.post(
                f"{API}/webhooks/{w1}/recover",
                json={"since": since.isoformat()},
                headers=account.headers,
            )
            assert again.json() == {"requeued": 0}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_retry_wakes_a_worker_in_another_process(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey, tls: TestTLS, settings: Settings
) -> None:
    """The API and the worker share only the database: PostgreSQL NOTIFY carries the wake-up.
    SQLite has no cross-process signal (workers there poll), so this is PostgreSQL only."""
    # The worker never polls within this test: only a NOTIFY can bring it the retry.
    worker_hub = Hub.build(settings.model_copy(update={"poll_interval_s": 3600.0}))
    try:
        async with Receiver(tls) as receiver:
            receiver.default_reply = Reply(500)
            await create_webhook(
                api, account, webhook_body("WHATSAPP", "MO", "JSON", receiver.url_for("/w"))
            )
            async with running_workers(worker_hub):
                await wait_until(lambda: _worker_listens(hub), what="the worker's LISTEN")
                event_id = await inbound(api, account, "WHATSAPP", CUSTOMER, BUSINESS, "x")
                await receiver.await_for(1, timeout=15)
                [item] = await all_deliveries(api, account)
                await wait_for_statuses(api, account, {(item["webhookId"], event_id): "failed"})
                receiver.default_reply = Reply(200)
                await retry(api, account, item["id"])
                await receiver.await_for(2, timeout=30)
    finally:
        await worker_hub.db.dispose()


async def _worker_listens(hub: Hub) -> bool:
    """The worker's LISTEN connection is up: a backend of this database last ran the LISTEN
    on the submissions channel, which `Database.listen` subscribes last (after the deliveries
    and simulation ones)."""
    statement = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = :q"
    )
    async with hub.db.reading() as conn:
        found = await conn.execute(statement, {"q": f'LISTEN "{SUBMISSIONS_CHANNEL}"'})
        return bool(found.scalar())
