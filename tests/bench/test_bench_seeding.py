"""The benchmark's seeding writes rows the current schema accepts, on both databases: a
schema change (a NOT NULL column, say) must not leave `make bench` broken unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from dlrhub.store.schema import deliveries, events
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey

BENCH = Path(__file__).resolve().parents[2] / "bench"


async def test_seeded_backlog_and_history_fit_the_schema(
    hub: Hub, account: AccountKey, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import seeding  # the bench's own module, importable only with bench/ on the path

    webhook = await hub.delivery_status.create(account.account_id, "https://127.0.0.1:9/hook")
    owner = seeding.Account(account.account_id, account.api_key, webhook.id)
    await seeding.insert_deliveries(db_url, [owner], 7)
    await seeding.insert_deliveries(db_url, [owner], 5, done=True)
    async with hub.db.reading() as conn:
        assert await conn.scalar(select(func.count()).select_from(events)) == 12
        pending = select(func.count()).where(deliveries.c.status == "pending")
        assert await conn.scalar(pending.select_from(deliveries)) == 7
        reports = (await conn.execute(select(events.c.report))).scalars().all()
    assert all(report["status"] == "DELIVERED" for report in reports)
