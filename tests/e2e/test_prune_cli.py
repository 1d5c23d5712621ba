"""`dlrhub db prune` (SPEC §15) through the real CLI, in a subprocess, on both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dlrhub.wiring.hub import Hub, utcnow
from tests.support.api_client import AccountKey
from tests.support.cli import run_cli
from tests.support.retention_seed import (
    add_delivery,
    add_event,
    add_message,
    add_webhook,
    counts,
    seed_finished,
)


@pytest.mark.e2e
async def test_db_prune_deletes_finished_rows_and_prints_the_counts(
    db_url: str, hub: Hub, account: AccountKey
) -> None:
    env = {"DLRHUB_DATABASE_URL": db_url, "DLRHUB_LOG_LEVEL": "warning"}
    a = account.account_id
    minute_ago = utcnow() - timedelta(minutes=1)
    async with hub.db.transaction() as conn:
        await add_webhook(conn, "wh", a, minute_ago)
        await seed_finished(conn, a, "wh", 7, minute_ago)
        await add_message(conn, "still-sent", a, "SENT", minute_ago)
        await add_message(conn, "still-notifying", a, "DELIVERED", minute_ago)
        await add_event(conn, "still-notifying-e", a, "still-notifying", minute_ago)
        await add_delivery(conn, "still-d", a, "still-notifying-e", "wh", "failed", minute_ago)

    async def cli(*args: str) -> tuple[int, str, str]:
        done = await asyncio.to_thread(run_cli, "db", "prune", *args, env=env)
        return done.returncode, done.stdout, done.stderr

    # A unit is required: a guessed one could delete what was meant to stay.
    code, out, err = await cli("--older-than", "90")
    assert code == 2, (out, err)
    assert "not a duration" in err
    # The default retention (30 days) keeps data finished a minute ago.
    code, out, err = await cli()
    assert code == 0, err
    assert "  messages: 0\n" in out

    code, out, err = await cli("--older-than", "0s")
    assert code == 0, err
    print(out)
    for table in ("messages", "events", "deliveries", "delivery_attempts"):
        assert f"  {table}: 7\n" in out
    assert "batches" in out
    async with hub.db.reading() as conn:
        assert await counts(conn) == {
            "messages": 2,
            "events": 1,
            "deliveries": 1,
            "delivery_attempts": 0,
        }
