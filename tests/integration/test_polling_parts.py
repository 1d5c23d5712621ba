"""Polling's `parts` view of a real multi-part SMS (SPEC §11.2, issue 11): one entry per part
the carrier accepted, SENT until that part's final receipt; no `parts` key on single-part or
simulated messages. Parts are accepted and reported through the connectors' own services
(submissions, receipts); both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from dlrhub.domain.smpp_receipts import stored_id_key
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.services.carrier_receipts import PartReport, ReceiptOutcome
from dlrhub.services.submissions import AcceptedPart, SubmitOutcome
from dlrhub.store.submissions import Submission
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import SEND, STATUS, AccountKey
from tests.support.contract import POLL_KEYS
from tests.support.inprocess import serving
from tests.support.stack import make_settings

BIND = "smpp://a:b@127.0.0.1:1"
LEASE = timedelta(seconds=30)
# GSM 03.38: 160 characters fit one part, 307 need three of 153.
ONE_PART, THREE_PARTS = "hello", "b" * 307


@pytest.fixture
async def smpp(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Hub, AccountKey]]:
    """The API in-process with an SMPP bind configured (so real SMS are accepted) and no
    workers: the test plays the connector through its services."""
    settings = make_settings(db_url, smpp_binds=BIND)
    hub = Hub.build(settings)
    try:
        created = await hub.accounts.create("parts-test")
        key = AccountKey(created.account_id, created.api_key)
        async with serving(create_app(settings, run_workers=False, hub=hub)) as client:
            yield client, hub, key
    finally:
        await hub.db.dispose()


async def _send(
    api: httpx.AsyncClient, key: AccountKey, customer_id: str, body: str, *, simulation: bool
) -> None:
    request = {
        "destination": "+393401234567",
        "body": body,
        "messageId": customer_id,
        "simulation": simulation,
    }
    response = await api.post(SEND.format(channel="sms"), json=request, headers=key.headers)
    assert response.status_code == 201, response.text


async def _claim(hub: Hub, customer_id: str) -> Submission:
    claimed = await hub.submissions.claim(Channel.SMS, worker="w", limit=10, lease=LEASE)
    (submission,) = [s for s in claimed if s.message.customer_message_id == customer_id]
    return submission


async def _accept(
    hub: Hub, submission: Submission, ids: dict[int, str], answer: SubmitAnswer
) -> None:
    """Record that the carrier accepted the parts `ids` (index -> its id) in this try."""
    accepted = tuple(AcceptedPart(i, cid, stored_id_key(cid)) for i, cid in ids.items())
    await hub.submissions.record(SubmitOutcome(submission, answer, "throttled", accepted))


async def _receipt(hub: Hub, carrier_id: str, status: MessageStatus) -> None:
    outcome = await hub.receipts.report(PartReport((stored_id_key(carrier_id),), status))
    assert outcome is ReceiptOutcome.APPLIED


async def _poll(api: httpx.AsyncClient, key: AccountKey, customer_id: str) -> dict[str, Any]:
    response = await api.get(f"{STATUS}/{customer_id}", headers=key.headers)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def _parts(*entries: tuple[int, str, str]) -> list[dict[str, Any]]:
    return [{"index": i, "status": s, "carrierMessageId": c} for i, s, c in entries]


async def test_parts_follow_acceptance_and_receipts(
    smpp: tuple[httpx.AsyncClient, Hub, AccountKey],
) -> None:
    api, hub, key = smpp
    await _send(api, key, "long", THREE_PARTS, simulation=False)
    waiting = await _poll(api, key, "long")
    assert waiting["status"] == "SENT"
    assert waiting["parts"] == []  # queued: no part accepted yet
    assert set(waiting) == POLL_KEYS | {"parts"}

    submission = await _claim(hub, "long")
    # Two parts accepted, the third throttled: only the accepted ones are listed.
    await _accept(hub, submission, {0: "0A1", 1: "0A2"}, SubmitAnswer.TRY_LATER)
    assert (await _poll(api, key, "long"))["parts"] == _parts(
        (0, "SENT", "0A1"), (1, "SENT", "0A2")
    )

    await _accept(hub, submission, {2: "0A3"}, SubmitAnswer.ACCEPTED)
    await _receipt(hub, "0A2", MessageStatus.DELIVERED)
    view = await _poll(api, key, "long")
    assert view["status"] == "SENT"  # a message is DELIVERED only when every part is
    assert view["parts"] == _parts((0, "SENT", "0A1"), (1, "DELIVERED", "0A2"), (2, "SENT", "0A3"))

    await _receipt(hub, "0A3", MessageStatus.EXPIRED)
    view = await _poll(api, key, "long")
    assert view["status"] == "EXPIRED"  # at the first part that fails
    assert view["parts"] == _parts(
        (0, "SENT", "0A1"), (1, "DELIVERED", "0A2"), (2, "EXPIRED", "0A3")
    )


async def test_no_parts_key_on_single_part_or_simulated_messages(
    smpp: tuple[httpx.AsyncClient, Hub, AccountKey],
) -> None:
    api, hub, key = smpp
    await _send(api, key, "short-real", ONE_PART, simulation=False)
    await _accept(hub, await _claim(hub, "short-real"), {0: "77"}, SubmitAnswer.ACCEPTED)
    await _send(api, key, "long-simulated", THREE_PARTS, simulation=True)
    for customer_id in ("short-real", "long-simulated"):
        assert set(await _poll(api, key, customer_id)) == POLL_KEYS


async def test_batch_poll_adds_parts_only_to_real_multipart_sms(
    smpp: tuple[httpx.AsyncClient, Hub, AccountKey],
) -> None:
    api, hub, key = smpp
    await _send(api, key, "long-a", THREE_PARTS, simulation=False)
    await _send(api, key, "long-b", THREE_PARTS, simulation=False)
    await _send(api, key, "short", ONE_PART, simulation=False)
    await _send(api, key, "sim", THREE_PARTS, simulation=True)
    claimed = await hub.submissions.claim(Channel.SMS, worker="w", limit=10, lease=LEASE)
    by_id = {s.message.customer_message_id: s for s in claimed}
    await _accept(hub, by_id["long-a"], {0: "a0", 1: "a1", 2: "a2"}, SubmitAnswer.ACCEPTED)
    await _accept(hub, by_id["short"], {0: "s0"}, SubmitAnswer.ACCEPTED)
    await _receipt(hub, "a1", MessageStatus.DELIVERED)

    ids = "long-a,long-b,short,sim,missing"
    with _statements_on(hub, "carrier_parts") as queries:
        response = await api.get(STATUS, params={"customerMessageIds": ids}, headers=key.headers)
    assert response.status_code == 200, response.text
    assert len(queries) == 1  # every message's parts in one query
    body = response.json()
    assert body["notFound"] == ["missing"]
    views = {view["customerMessageId"]: view for view in body["messages"]}
    assert list(views) == ["long-a", "long-b", "short", "sim"]
    assert views["long-a"]["parts"] == _parts(
        (0, "SENT", "a0"), (1, "DELIVERED", "a1"), (2, "SENT", "a2")
    )
    assert views["long-b"]["parts"] == []
    assert set(views["short"]) == POLL_KEYS
    assert set(views["sim"]) == POLL_KEYS


async def test_batch_of_simulated_messages_reads_no_parts(
    smpp: tuple[httpx.AsyncClient, Hub, AccountKey],
) -> None:
    api, hub, key = smpp
    await _send(api, key, "sim", THREE_PARTS, simulation=True)
    with _statements_on(hub, "carrier_parts") as queries:
        response = await api.get(STATUS, params={"ids": "sim"}, headers=key.headers)
    assert response.status_code == 200, response.text
    assert queries == []
    assert set(response.json()["messages"][0]) == POLL_KEYS


@contextmanager
def _statements_on(hub: Hub, table: str) -> Iterator[list[str]]:
    """The SQL statements run on `table` while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if table in statement:
            seen.append(statement)

    engine = hub.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
