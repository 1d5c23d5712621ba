"""Catch-up after an outage (issue 13 item 5, docs/catch-up.md): GET /events lists the
account's events in commit order behind a stable, gap-free cursor. On both databases."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from dlrhub.carriers.simulator import Simulator
from dlrhub.domain.row_ids import new_id
from dlrhub.services.event_feed import EventFeed
from dlrhub.store.database import Database
from dlrhub.store.events import NewEvent, insert_events
from dlrhub.store.schema import events
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey, inbound, send
from tests.support.assertions import assert_problem, error_fields
from tests.support.stack import running_workers
from tests.support.waiting import wait_until

FEED = API + "/events"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _payload(label: str) -> str:
    # Keys out of alphabetical order, a null and non-ASCII text: all must come back as stored.
    return json.dumps(
        {"eventType": "INBOUND", "text": f"{label} é ✓", "error": None, "channel": "SMS"},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _event(account_id: str, label: str, event_id: str | None = None) -> NewEvent:
    return NewEvent(
        id=event_id or new_id(),
        account_id=account_id,
        message_id=None,
        event_type="INBOUND",
        channel="SMS",
        business_number=None,
        payload=_payload(label),
        occurred_at=T0,
        webhook_ids=[],
        webhook_values={},
    )


async def _insert(db: Database, created_at: datetime, batch: list[NewEvent]) -> list[str]:
    """Store `batch` in one transaction, created at `created_at`; returns the ids."""
    async with db.transaction() as conn:
        await insert_events(conn, batch, created_at)
    return [event.id for event in batch]


async def _sequence_all(feed: EventFeed) -> int:
    total = 0
    while numbered := await feed.sequence_pending():
        total += numbered
    return total


async def _page(
    api: httpx.AsyncClient, key: AccountKey, after: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    params: dict[str, str | int] = {}
    if after is not None:
        params["after"] = after
    if limit is not None:
        params["limit"] = limit
    response = await api.get(FEED, params=params, headers=key.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    page: dict[str, Any] = response.json()
    assert set(page) == {"events", "nextCursor"}
    return page


async def _pull_all(
    api: httpx.AsyncClient, key: AccountKey, after: str | None = None, limit: int = 100
) -> tuple[list[dict[str, Any]], str | None]:
    """Every event after `after`, page by page; the events and the cursor to resume from."""
    pulled: list[dict[str, Any]] = []
    while True:
        page = await _page(api, key, after, limit)
        pulled += page["events"]
        if not page["events"]:
            assert page["nextCursor"] == after
            return pulled, after
        assert len(page["events"]) <= limit
        assert page["nextCursor"] == page["events"][-1]["cursor"]
        after = page["nextCursor"]


def _small_batches(hub: Hub) -> EventFeed:
    return EventFeed(hub.db, hub.signals, hub.clock, poll_interval_s=0.2, batch=64)


async def test_paging_lists_every_event_once_in_creation_order(
    hub: Hub, api: httpx.AsyncClient, account: AccountKey
) -> None:
    """250 events in 25 transactions, created in an order opposite to their ids: pages of 100
    give each once, by creation time (then id), and nextCursor resumes exactly."""
    ids = sorted(new_id() for _ in range(250))
    expected: list[str] = []
    for tx in range(25):
        # The newest ids first: the feed must not be ordered by id.
        chunk = ids[250 - 10 * (tx + 1) : 250 - 10 * tx]
        created = T0 + timedelta(seconds=tx)
        expected += await _insert(
            hub.db,
            created,
            [_event(account.account_id, f"e{tx}.{i}", e) for i, e in enumerate(chunk)],
        )
    assert await _sequence_all(_small_batches(hub)) == 250

    first = await _page(api, account, limit=100)
    second = await _page(api, account, first["nextCursor"], 100)
    third = await _page(api, account, second["nextCursor"], 100)
    assert [len(p["events"]) for p in (first, second, third)] == [100, 100, 50]
    listed = first["events"] + second["events"] + third["events"]
    assert [item["eventId"] for item in listed] == expected
    cursors = [item["cursor"] for item in listed]
    assert len(set(cursors)) == 250
    # Resuming from any cursor continues right after that event.
    resumed = await _page(api, account, cursors[41], 3)
    assert [item["eventId"] for item in resumed["events"]] == expected[42:45]
    # Nothing new: an empty page that hands the same cursor back.
    assert await _page(api, account, third["nextCursor"]) == {
        "events": [],
        "nextCursor": third["nextCursor"],
    }
    assert [item["eventId"] for item in (await _pull_all(api, account, limit=7))[0]] == expected


async def test_items_carry_the_stored_payload_exactly(
    hub: Hub, api: httpx.AsyncClient, account: AccountKey
) -> None:
    """A real DELIVERY (a simulated SMS) and a real INBOUND: each item names its event and
    message, and its payload is the stored body, key order and nulls included."""
    sent = await send(api, account, "sms", destination="+393401234567", sender="ACME")
    simulator = Simulator(
        db=hub.db, signals=hub.signals, clock=hub.clock, delay=timedelta(0), poll_interval_s=0.1
    )
    while await simulator.step():
        pass
    inbound_id = await inbound(api, account, "SMS", "+393401234568", "+393409876544", "STOP")
    assert (await _page(api, account))["events"] == []  # not positioned yet: not listed
    await _sequence_all(hub.event_feed)

    listed = (await _page(api, account))["events"]
    async with hub.db.reading() as conn:
        stored = {row.id: row for row in await conn.execute(select(events))}
    assert [item["eventType"] for item in listed] == ["DELIVERY", "INBOUND"]
    delivery, received = listed
    assert delivery["messageId"] == sent["messageId"]
    assert received["eventId"] == inbound_id
    assert received["messageId"] is None
    for item in listed:
        assert list(item) == ["cursor", "eventId", "eventType", "messageId", "createdAt", "payload"]
        row = stored[item["eventId"]]
        assert item["payload"] == json.loads(row.payload)
        assert list(item["payload"]) == list(json.loads(row.payload))
        assert item["createdAt"] == row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert delivery["payload"]["messageId"] == sent["messageId"]
    assert delivery["payload"]["status"] == "DELIVERED"
    assert "error" in delivery["payload"]  # null, kept


async def test_an_event_committed_late_is_not_skipped(
    hub: Hub, api: httpx.AsyncClient, account: AccountKey
) -> None:
    """An event created (and given its id) before others but committed after the reader has
    paged past them: it is still listed, after them, to a reader resuming from its cursor."""
    late_id = new_id()  # taken first: the smallest id, and the earliest creation time
    early = await _insert(hub.db, T0 + timedelta(seconds=10), [_event(account.account_id, "a")])
    early += await _insert(hub.db, T0 + timedelta(seconds=11), [_event(account.account_id, "b")])
    await _sequence_all(hub.event_feed)
    seen, cursor = await _pull_all(api, account)
    assert [item["eventId"] for item in seen] == early

    # Its transaction commits only now, with the oldest creation time of all.
    await _insert(hub.db, T0, [_event(account.account_id, "late", late_id)])
    assert (await _page(api, account, cursor))["events"] == []  # listed once positioned
    await _sequence_all(hub.event_feed)
    caught_up, _ = await _pull_all(api, account, cursor)
    assert [item["eventId"] for item in caught_up] == [late_id]
    # From the start it comes after them too: the order never changes once read.
    everything, _ = await _pull_all(api, account)
    assert [item["eventId"] for item in everything] == [*early, late_id]


async def test_concurrent_sequencers_give_unique_positions_without_holes(
    db_url: str, hub: Hub, account: AccountKey
) -> None:
    """Two sequencers on two Database objects (two processes' worth of connections), while
    events keep committing: every event gets one position, none twice, none skipped."""
    other_db = Database.from_url(db_url)
    feeds = [
        EventFeed(db, hub.signals, hub.clock, poll_interval_s=0.05, batch=7)
        for db in (hub.db, other_db)
    ]
    inserted: list[str] = []
    done = asyncio.Event()

    async def produce() -> None:
        for tx in range(40):
            batch = [_event(account.account_id, f"c{tx}.{i}") for i in range(5)]
            inserted.extend(await _insert(hub.db, T0 + timedelta(seconds=tx), batch))
            await asyncio.sleep(0)
        done.set()

    async def sequence(feed: EventFeed) -> int:
        total = 0
        while not done.is_set():
            total += await feed.sequence_pending()
            await asyncio.sleep(0)
        return total + await _sequence_all(feed)

    try:
        producer = asyncio.create_task(produce())
        counts = await asyncio.gather(*(sequence(feed) for feed in feeds))
        await producer
    finally:
        await other_db.dispose()
    assert sum(counts) == 200
    async with hub.db.reading() as conn:
        rows = list(await conn.execute(select(events.c.id, events.c.position)))
    positions = sorted(row.position for row in rows)
    assert {row.id for row in rows} == set(inserted)
    assert None not in positions
    assert positions == list(range(positions[0], positions[0] + 200))


async def test_another_accounts_events_never_appear(
    hub: Hub, api: httpx.AsyncClient, account: AccountKey
) -> None:
    created = await hub.accounts.create("other-account")
    other = AccountKey(created.account_id, created.api_key)
    mine: list[str] = []
    theirs: list[str] = []
    for tx in range(6):
        at = T0 + timedelta(seconds=tx)
        mine += await _insert(hub.db, at, [_event(account.account_id, f"m{tx}")])
        theirs += await _insert(hub.db, at, [_event(other.account_id, f"t{tx}")])
    await _sequence_all(hub.event_feed)

    my_events, my_cursor = await _pull_all(api, account, limit=4)
    their_events, _ = await _pull_all(api, other, limit=4)
    assert [item["eventId"] for item in my_events] == mine
    assert [item["eventId"] for item in their_events] == theirs
    # A cursor is only a place in the feed: used by another account it shows that account's
    # events after it, never the first account's.
    first_of_mine = my_events[0]["cursor"]
    after_mine = await _page(api, other, first_of_mine)
    assert {item["eventId"] for item in after_mine["events"]} <= set(theirs)
    assert my_cursor is not None


def _cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "params",
    [
        {"after": "not-a-cursor"},
        {"after": ""},
        {"after": _cursor_of("p-1")},
        {"after": _cursor_of("p007")},
        {"after": _cursor_of("p1") + "="},
        {"after": _cursor_of(f"p{1 << 63}")},
        {"after": _cursor_of("q12")},
        {"after": _cursor_of("p12\x00")},
        {"after": "A" * 5000},
    ],
)
async def test_a_malformed_cursor_is_a_400(
    api: httpx.AsyncClient, account: AccountKey, params: dict[str, str]
) -> None:
    response = await api.get(FEED, params=params, headers=account.headers)
    assert error_fields(assert_problem(response, 400)) == {"after"}


@pytest.mark.parametrize("limit", ["0", "1001", "-5", "ten", "1.5"])
async def test_a_limit_outside_1_to_1000_is_a_400(
    api: httpx.AsyncClient, account: AccountKey, limit: str
) -> None:
    response = await api.get(FEED, params={"limit": limit}, headers=account.headers)
    assert error_fields(assert_problem(response, 400)) == {"limit"}


async def test_limits_and_key(hub: Hub, api: httpx.AsyncClient, account: AccountKey) -> None:
    """1 and 1000 are allowed, 100 is the default; no key is a 401."""
    await _insert(hub.db, T0, [_event(account.account_id, f"k{i}") for i in range(120)])
    await _sequence_all(hub.event_feed)
    assert len((await _page(api, account))["events"]) == 100
    assert len((await _page(api, account, limit=1))["events"]) == 1
    assert len((await _page(api, account, limit=1000))["events"]) == 120
    assert_problem(await api.get(FEED), 401)


async def test_positions_stay_above_deleted_ones(
    hub: Hub, api: httpx.AsyncClient, account: AccountKey
) -> None:
    """Retention may delete every event: numbering then starts again above every position a
    receiver's saved cursor can hold, so the next event is not hidden behind that cursor."""
    await _insert(hub.db, T0, [_event(account.account_id, f"old{i}") for i in range(3)])
    await _sequence_all(hub.event_feed)
    _, cursor = await _pull_all(api, account)
    async with hub.db.transaction() as conn:
        await conn.execute(delete(events))
    fresh = await _insert(hub.db, T0, [_event(account.account_id, "new")])
    await _sequence_all(hub.event_feed)
    resumed, _ = await _pull_all(api, account, cursor)
    assert [item["eventId"] for item in resumed] == fresh


async def test_workers_position_new_events(
    hub: Hub, api: httpx.AsyncClient, account: AccountKey
) -> None:
    """The sequencer runs with the workers (runtime.py): a sent message's DELIVERY and an
    INBOUND appear in the feed without anyone calling it."""
    async with running_workers(hub):
        sent = await send(api, account, "sms", destination="+393401234567", sender="ACME")
        event_id = await inbound(api, account, "SMS", "+393401234568", "+393409876544", "hi")

        async def both_listed() -> list[dict[str, Any]] | None:
            listed = (await _page(api, account))["events"]
            return listed if len(listed) == 2 else None

        listed = await wait_until(both_listed, what="both events listed", timeout=10)
    assert {item["eventId"] for item in listed} >= {event_id}
    assert sent["messageId"] in {item["messageId"] for item in listed}
