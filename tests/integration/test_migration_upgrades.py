"""Upgrading a database that already holds data keeps every row (both databases).

A fresh database cannot show this: `test_migrations` compares the schema a migration run
creates, not what the run does to rows already there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from dlrhub.store.engine import create_engine
from dlrhub.store.migrate import upgrade
from dlrhub.store.schema import UTCDateTime
from dlrhub.store.webhooks import richer_webhook
from tests.support.databases import POSTGRES_URL, admin

AT = datetime(2026, 1, 1, tzinfo=UTC)
_ROWS = [
    "INSERT INTO accounts (id, name, created_at) VALUES ('a', 'a', :at)",
    "INSERT INTO webhooks (id, account_id, kind, url, method, parameters, custom_params, "
    "custom_headers, created_at, updated_at) VALUES ('w', 'a', 'delivery_status', "
    "'https://hooks.example.com/dlr', 'JSON', '{}', '{}', '{}', :at, :at)",
    "INSERT INTO events (id, account_id, event_type, channel, payload, report, occurred_at, "
    """created_at) VALUES ('e', 'a', 'INBOUND', 'SMS', '{}', '{"messageId": "e"}', :at, :at)""",
    "INSERT INTO deliveries (id, account_id, event_id, webhook_id, status, attempts, "
    "created_at, updated_at) VALUES ('d', 'a', 'e', 'w', 'failed', 1, :at, :at)",
    "INSERT INTO delivery_attempts (delivery_id, attempted_at, duration_ms) VALUES ('d', :at, 9)",
]


@pytest.fixture
async def fresh_url(db_url: str, tmp_path: object) -> AsyncIterator[str]:
    """An empty database of the backend `db_url` runs on, with no migration applied."""
    if db_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path}/upgrades.db"
        return
    name = f"dlrhub_upgrade_{uuid.uuid4().hex[:8]}"
    await admin(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _at(statement: str) -> sa.TextClause:
    return sa.text(statement).bindparams(sa.bindparam("at", type_=UTCDateTime()))


async def _count(engine: sa.ext.asyncio.AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_requiring_event_reports_keeps_every_delivery(fresh_url: str) -> None:
    """0006 makes events.report NOT NULL. On SQLite the usual table copy would drop `events`
    with foreign keys enforced, and the cascade would delete every delivery and attempt."""
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine, "0005")
        async with engine.begin() as conn:
            for statement in _ROWS:
                await conn.execute(_at(statement), {"at": AT})
        await upgrade(engine)
        counts = {t: await _count(engine, t) for t in ("events", "deliveries", "delivery_attempts")}
        assert counts == {"events": 1, "deliveries": 1, "delivery_attempts": 1}
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    _at(
                        "INSERT INTO events (id, account_id, event_type, channel, payload, "
                        "occurred_at, created_at) VALUES ('e2', 'a', 'INBOUND', 'SMS', '{}', "
                        ":at, :at)"
                    ),
                    {"at": AT},
                )
    finally:
        await engine.dispose()


async def test_richer_webhooks_stored_as_custom_become_richer(fresh_url: str) -> None:
    """0007 renames the stored kind "custom" to the contract's "richer": the webhook stays
    findable as a richer webhook, with its deliveries, and the delivery-status row is untouched."""
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine, "0006")
        async with engine.begin() as conn:
            for statement in _ROWS:
                await conn.execute(_at(statement), {"at": AT})
            await conn.execute(
                _at(
                    "INSERT INTO webhooks (id, account_id, kind, url, product, report_type, "
                    "method, parameters, custom_params, custom_headers, created_at, updated_at) "
                    "VALUES ('r', 'a', 'custom', 'https://hooks.example.com/r', 'SMS', 'DLR', "
                    "'JSON', '{}', '{}', '{}', :at, :at)"
                ),
                {"at": AT},
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            kinds = dict(
                (await conn.execute(sa.text("SELECT id, kind FROM webhooks ORDER BY id"))).all()
            )
            assert kinds == {"r": "richer", "w": "delivery_status"}
            assert await richer_webhook(conn, "a", "r") is not None
        assert await _count(engine, "deliveries") == 1
    finally:
        await engine.dispose()
