"""Retention (SPEC §15) on both databases: a million finished rows age out in short batches,
nothing live is touched, pruned messages poll as 404, and the workers prune by themselves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.services.retention import Retention
from dlrhub.store.database import Database
from dlrhub.store.schema import deliveries, delivery_attempts, events, messages
from dlrhub.wiring.hub import Hub, utcnow
from tests.support.api_client import AccountKey
from tests.support.retention_seed import (
    Seeded,
    add_attempt,
    add_delivery,
    add_event,
    add_message,
    add_webhook,
    counts,
    seed_finished,
)
from tests.support.stack import make_settings

# 250,000 messages, each with an event, a delivery and an attempt: a million finished rows.
MILLION = 250_000
WEBHOOK = "wh-retention"
POLL = "/api/partner-gateway/v1/messages/status/"


async def _seed_cases(
    conn: AsyncConnection, account_id: str, old: datetime, recent: datetime
) -> None:
    """One row set per rule, beside the bulk. Ids starting `keep-` must survive a prune at
    the default 30 days; ids starting `gone-` must not."""
    a = account_id

    async def message_with(
        name: str, status: str, at: datetime, outcomes: list[tuple[str, datetime]]
    ) -> None:
        """A message with one event per delivery outcome, each delivery with one attempt."""
        await add_message(conn, name, a, status, at)
        for n, (outcome, changed) in enumerate(outcomes):
            kept = name.startswith("keep-") and (outcome in ("pending", "failed") or changed > old)
            prefix = "keep" if kept else "gone"
            event_id = f"{name}-e{n}"
            delivery_id = f"{prefix}-{name}-d{n}"
            await add_event(conn, event_id, a, name, at)
            await add_delivery(conn, delivery_id, a, event_id, WEBHOOK, outcome, changed)
            await add_attempt(conn, delivery_id, changed)

    # Not final: a SENT message waits for its carrier however old it is.
    await add_message(conn, "keep-sent", a, "SENT", old)
    # Final and old, but an event still has a delivery to send (never tried / will retry).
    await message_with("keep-pending", "DELIVERED", old, [("pending", old)])
    await message_with("keep-failed", "ERROR", old, [("failed", old)])
    # Final and old, one event's delivery died long ago, another's is still retrying: the
    # dead delivery goes (the log forgets it), the message and both events stay.
    await message_with("keep-mixed", "READ", old, [("dead", old), ("failed", old)])
    # Finished recently: kept whole.
    await message_with("keep-recent", "DELIVERED", recent, [("succeeded", recent)])
    # An old message whose delivery was replayed recently: the recent delivery keeps it.
    await message_with("keep-replayed", "EXPIRED", old, [("succeeded", recent)])
    # The simulator still has a READ to report for it.
    await add_message(conn, "keep-simulating", a, "DELIVERED", old, sim_due_at=old)
    # Final, old, never notified (no events): goes.
    await add_message(conn, "gone-silent", a, "DELIVERED", old)
    # INBOUND events (no message): old and delivered goes; old and pending, or recent, stays.
    await add_event(conn, "gone-inbound", a, None, old)
    await add_delivery(conn, "gone-inbound-d", a, "gone-inbound", WEBHOOK, "succeeded", old)
    await add_attempt(conn, "gone-inbound-d", old)
    await add_event(conn, "keep-inbound-pending", a, None, old)
    await add_delivery(
        conn, "keep-inbound-pending-d", a, "keep-inbound-pending", WEBHOOK, "pending", old
    )
    await add_event(conn, "keep-inbound-recent", a, None, recent)


# What survives, per table (attempts by their delivery's id).
SURVIVORS = {
    "messages": {
        "keep-sent",
        "keep-pending",
        "keep-failed",
        "keep-mixed",
        "keep-recent",
        "keep-replayed",
        "keep-simulating",
    },
    "events": {
        "keep-pending-e0",
        "keep-failed-e0",
        "keep-mixed-e0",
        "keep-mixed-e1",
        "keep-recent-e0",
        "keep-replayed-e0",
        "keep-inbound-pending",
        "keep-inbound-recent",
    },
    "deliveries": {
        "keep-keep-pending-d0",
        "keep-keep-failed-d0",
        "keep-keep-mixed-d1",
        "keep-keep-recent-d0",
        "keep-keep-replayed-d0",
        "keep-inbound-pending-d",
    },
    "delivery_attempts": {
        "keep-keep-pending-d0",
        "keep-keep-failed-d0",
        "keep-keep-mixed-d1",
        "keep-keep-recent-d0",
        "keep-keep-replayed-d0",
    },
}
# Besides the bulk: gone-silent; gone-inbound; the dead delivery of keep-mixed and
# gone-inbound-d, each with its attempt.
EXTRA_GONE = {"messages": 1, "events": 1, "deliveries": 2, "delivery_attempts": 2}


async def _survivors(db: Database) -> dict[str, set[str]]:
    async with db.reading() as conn:
        return {
            "messages": set((await conn.execute(select(messages.c.id))).scalars()),
            "events": set((await conn.execute(select(events.c.id))).scalars()),
            "deliveries": set((await conn.execute(select(deliveries.c.id))).scalars()),
            "delivery_attempts": set(
                (await conn.execute(select(delivery_attempts.c.delivery_id))).scalars()
            ),
        }


async def _seed(hub: Hub, account_id: str, bulk: int, now: datetime) -> Seeded:
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    async with hub.db.transaction() as conn:
        await add_webhook(conn, WEBHOOK, account_id, old)
        seeded = await seed_finished(conn, account_id, WEBHOOK, bulk, old)
        await _seed_cases(conn, account_id, old, recent)
    await _settle(hub.db)
    return seeded


async def _settle(db: Database) -> None:
    """Write the seed out before measuring: the prune's batches must not pay for flushing a
    million seeded rows (nor for the other database's test just before)."""
    if db.engine.dialect.name == "sqlite":
        database = make_url(str(db.engine.url)).database
        assert database is not None
        with contextlib.closing(sqlite3.connect(database)) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            # As autovacuum would after a load this size: the planner needs to know the tables.
            await conn.execute(text("ANALYZE"))
            await conn.execute(text("CHECKPOINT"))
    os.sync()


async def test_prunes_a_million_finished_rows_in_short_batches_and_spares_live_work(
    hub: Hub, account: AccountKey, api: httpx.AsyncClient
) -> None:
    started = time.perf_counter()
    seeded = await _seed(hub, account.account_id, MILLION, utcnow())
    seeding_s = time.perf_counter() - started
    pruned = f"{POLL}{Seeded.customer_id(MILLION // 2)}"
    assert (await api.get(pruned, headers=account.headers)).status_code == 200

    report = await Retention.from_settings(hub.db, hub.clock, hub.settings).prune()

    print(
        f"\n[{hub.db.engine.dialect.name}] seeded {seeded.rows:,} finished rows in "
        f"{seeding_s:.1f} s; prune deleted {report.total:,} rows in {report.elapsed_s:.1f} s "
        f"({report.batches} batches, slowest {report.slowest_batch_s * 1000:.0f} ms): "
        f"{report.deleted}"
    )
    assert report.deleted == {table: seeded.count + EXTRA_GONE[table] for table in EXTRA_GONE}
    assert report.total >= 1_000_000
    assert await _survivors(hub.db) == SURVIVORS
    # Small batches, so no transaction (and none of its locks) lasts long: at most
    # `retention_batch` messages a batch. Counted, not timed (the times are printed above).
    assert report.batches >= seeded.count // hub.settings.retention_batch, report

    assert (await api.get(pruned, headers=account.headers)).status_code == 404
    assert (await api.get(f"{POLL}gone-silent", headers=account.headers)).status_code == 404
    for kept in ("keep-pending", "keep-mixed", "keep-simulating", "keep-sent"):
        answer = await api.get(f"{POLL}{kept}", headers=account.headers)
        assert answer.status_code == 200, kept

    # A second run finds nothing more to delete.
    again = await Retention.from_settings(hub.db, hub.clock, hub.settings).prune()
    assert again.total == 0


async def test_older_than_overrides_the_retention_period(hub: Hub, account: AccountKey) -> None:
    now = utcnow()
    seeded = await _seed(hub, account.account_id, 100, now)
    retention = Retention.from_settings(hub.db, hub.clock, hub.settings)

    assert (await retention.prune(timedelta(days=90))).total == 0
    report = await retention.prune(timedelta(0))
    # With nothing kept for age, only live work survives: the recently finished go too.
    assert report.deleted["messages"] == seeded.count + EXTRA_GONE["messages"] + 2
    survivors = await _survivors(hub.db)
    assert not {"keep-recent", "keep-replayed"} & survivors["messages"]
    assert {"keep-sent", "keep-pending", "keep-simulating"} <= survivors["messages"]
    assert "keep-inbound-pending-d" in survivors["deliveries"]


async def test_concurrent_pruners_share_the_work(hub: Hub, account: AccountKey) -> None:
    """Two processes pruning at once (PostgreSQL: SKIP LOCKED; SQLite: one writer at a
    time) delete everything exactly once between them, and neither fails."""
    seeded = await _seed(hub, account.account_id, 20_000, utcnow())
    dbs = [Database.from_url(hub.settings.database_url) for _ in range(2)]
    try:
        pruners = [Retention.from_settings(db, hub.clock, hub.settings) for db in dbs]
        reports = await asyncio.gather(*(pruner.prune() for pruner in pruners))
    finally:
        for db in dbs:
            await db.dispose()
    assert {table: sum(report.deleted[table] for report in reports) for table in EXTRA_GONE} == {
        table: seeded.count + EXTRA_GONE[table] for table in EXTRA_GONE
    }
    assert await _survivors(hub.db) == SURVIVORS


async def test_a_set_stop_ends_a_prune_before_its_next_batch(hub: Hub, account: AccountKey) -> None:
    await _seed(hub, account.account_id, 50, utcnow())
    stop = asyncio.Event()
    stop.set()
    report = await Retention.from_settings(hub.db, hub.clock, hub.settings).prune(stop=stop)
    assert report.total == 0
    async with hub.db.reading() as conn:
        assert (await counts(conn))["messages"] > 50


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "not within the time limit"
        await asyncio.sleep(0.05)


async def test_workers_prune_in_the_background(db_url: str, account: AccountKey) -> None:
    from dlrhub.runtime import Workers

    # A retention of a few milliseconds, checked every 50 ms.
    settings = make_settings(db_url, retention_days=1e-7, retention_interval_s=0.05)
    hub = Hub.build(settings)
    workers = Workers(hub)
    try:
        old = utcnow() - timedelta(hours=1)
        async with hub.db.transaction() as conn:
            await add_webhook(conn, WEBHOOK, account.account_id, old)
            await seed_finished(conn, account.account_id, WEBHOOK, 30, old)
            await add_message(conn, "keep-sent", account.account_id, "SENT", old)
        workers.start()

        async def pruned() -> bool:
            async with hub.db.reading() as conn:
                return await counts(conn) == {
                    "messages": 1,
                    "events": 0,
                    "deliveries": 0,
                    "delivery_attempts": 0,
                }

        await _eventually(pruned)
        # Data finished after the first run goes at a later one: the loop keeps running.
        async with hub.db.transaction() as conn:
            await add_message(conn, "gone-later", account.account_id, "ERROR", utcnow())

        async def pruned_again() -> bool:
            return await _survivors(hub.db) == {
                "messages": {"keep-sent"},
                "events": set(),
                "deliveries": set(),
                "delivery_attempts": set(),
            }

        await _eventually(pruned_again)
    finally:
        await workers.stop()
        await hub.db.dispose()
