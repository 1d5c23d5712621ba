"""Which commits wait for the disk (issue 10). A send's 201 and a status change with its
deliveries always do; only attempt records may commit without waiting (on PostgreSQL,
`synchronous_commit = off` for their transaction), because losing one in a database crash
means a resend, which at-least-once delivery already allows. Both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from dlrhub.delivery.recorder import Recorder
from dlrhub.domain.delivery_state import DeliveryState
from dlrhub.services.simulation import SimulatedReports
from dlrhub.store.records import AttemptOutcome
from dlrhub.store.schema import deliveries
from tests.support.stack import Stack, stack

RELAXED = "synchronous_commit"


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[Stack]:
    async with stack(db_url) as built:
        yield built


def _statements(app: Stack) -> list[str]:
    seen: list[str] = []

    @event.listens_for(app.hub.db.engine.sync_engine, "before_cursor_execute")
    def _on_execute(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    return seen


async def test_only_attempt_records_commit_without_waiting_for_the_disk(app: Stack) -> None:
    key = await app.new_account()
    await app.register(key, "https://127.0.0.1:9/hook")
    statements = _statements(app)
    await app.send(key, destination="+393401234567")
    await SimulatedReports(app.hub.db, app.hub.clock, delay=timedelta(0), batch=10).step()
    assert statements, "the send and the status change ran no statement?"
    assert not [s for s in statements if RELAXED in s]  # the 201, the change: durable

    async with app.hub.db.reading() as conn:
        (delivery_id, webhook_id) = (
            await conn.execute(select(deliveries.c.id, deliveries.c.webhook_id))
        ).one()
    statements.clear()
    recorder = Recorder(app.hub.db, app.hub.clock, app.hub.signals, disable_after=timedelta(1))
    recorder.add(
        AttemptOutcome(
            delivery_id=delivery_id,
            webhook_id=webhook_id,
            attempted_at=app.hub.clock(),
            duration_ms=3,
            response_status=200,
            response_body="",
            error=None,
            new_status=DeliveryState.SUCCEEDED,
            attempts=1,
            next_attempt_at=None,
        )
    )
    await recorder.flush()
    relaxed = [s for s in statements if RELAXED in s]
    if app.hub.db.engine.dialect.name == "postgresql":
        assert relaxed == ["SET LOCAL synchronous_commit TO OFF"]
    else:  # SQLite: WAL with synchronous=NORMAL already; nothing to say per transaction
        assert relaxed == []
    async with app.hub.db.reading() as conn:
        status = (await conn.execute(select(deliveries.c.status))).scalar_one()
    assert status == DeliveryState.SUCCEEDED
