"""Receipt timeouts (docs/receipt-timeouts.md, issue 13 item 2), on both databases with a clock
the test moves: a real message with no final report becomes EXPIRED (8) its timeout after the
carrier accepted it; `validityPeriod` replaces the timeout; a receipt that comes later changes
nothing but is counted and listed in the message's report history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.services.carrier_receipts import PartReport
from dlrhub.services.submissions import SubmitOutcome
from tests.support.timeouts_stack import TimeoutStack, late_count, timeout_stack

HOUR = 3600


@pytest.fixture
async def stack(db_url: str) -> AsyncIterator[TimeoutStack]:
    async with timeout_stack(db_url, receipt_timeout_s=HOUR) as built:
        yield built


async def _real_accepted(stack: TimeoutStack, carrier_id: str = "C1", **fields: Any) -> str:
    customer_id = await stack.sent(simulation=False, **fields)
    await stack.accept(carrier_id)
    return customer_id


async def test_no_receipt_within_the_timeout_expires_the_message(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(simulation=False)
    stack.clock.advance(600)  # waiting for the carrier does not count
    assert await stack.deadline(customer_id) is None
    await stack.accept("C1")
    assert await stack.deadline(customer_id) == stack.clock.now + _s(HOUR)
    stack.clock.advance(HOUR - 1)
    assert await stack.sweep() == 0
    assert (await stack.status(customer_id))["status"] == "SENT"
    stack.clock.advance(1)
    assert await stack.sweep() == 1
    polled = await stack.status(customer_id)
    assert (polled["status"], polled["statusCode"]) == ("EXPIRED", 8)
    assert polled["error"] == "no delivery receipt from the carrier within 1 hour"
    assert await stack.events(customer_id) == [("DELIVERY", 8)]
    (logged,) = await stack.reports(customer_id)
    assert (logged["status"], logged["outcome"]) == ("EXPIRED", "applied")
    assert logged["detail"] == polled["error"]
    assert await stack.deadline(customer_id) is None
    assert await stack.sweep() == 0  # once


async def test_validity_period_replaces_the_timeout(stack: TimeoutStack) -> None:
    short = await _real_accepted(stack, "C1", validityPeriod=90)
    default = await _real_accepted(stack, "C2")
    stack.clock.advance(90)
    assert await stack.sweep() == 1
    polled = await stack.status(short)
    assert polled["status"] == "EXPIRED"
    assert polled["error"] == "no delivery receipt from the carrier within 1 minute 30 seconds"
    assert (await stack.status(default))["status"] == "SENT"


async def test_a_receipt_in_time_ends_the_wait(stack: TimeoutStack) -> None:
    customer_id = await _real_accepted(stack)
    await stack.hub.receipts.report(PartReport(("c1",), MessageStatus.DELIVERED))
    assert await stack.deadline(customer_id) is None
    stack.clock.advance(2 * HOUR)
    assert await stack.sweep() == 0
    assert (await stack.status(customer_id))["status"] == "DELIVERED"
    assert [(r["status"], r["outcome"]) for r in await stack.reports(customer_id)] == [
        ("DELIVERED", "applied")
    ]


async def test_a_late_receipt_changes_nothing_but_is_counted_and_listed(
    stack: TimeoutStack,
) -> None:
    customer_id = await _real_accepted(stack)
    stack.clock.advance(HOUR)
    assert await stack.sweep() == 1
    before = late_count()
    stack.clock.advance(5)
    await stack.hub.receipts.report(PartReport(("c1",), MessageStatus.DELIVERED))
    polled = await stack.status(customer_id)
    assert polled["status"] == "EXPIRED"
    assert await stack.events(customer_id) == [("DELIVERY", 8)]  # no second event
    assert late_count() == before + 1
    history = await stack.reports(customer_id)
    assert [(r["status"], r["outcome"]) for r in history] == [
        ("EXPIRED", "applied"),
        ("DELIVERED", "late"),
    ]
    assert history[0]["receivedAt"] < history[1]["receivedAt"]


async def test_a_refused_message_never_times_out(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(simulation=False)
    (claimed,) = await stack.hub.submissions.claim(Channel.SMS, worker="w", limit=1, lease=_s(30))
    await stack.hub.submissions.record(SubmitOutcome(claimed, SubmitAnswer.REFUSED, "bad"))
    assert await stack.deadline(customer_id) is None
    assert (await stack.status(customer_id))["status"] == "ERROR"


async def test_a_lost_simulated_receipt_times_out_from_the_send(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(
        simulation={"outcome": "DELIVERED", "faults": ["lost"]}, validityPeriod=30
    )
    assert await stack.simulate() == 0  # nothing ever comes
    stack.clock.advance(30)
    assert await stack.sweep() == 1
    polled = await stack.status(customer_id)
    assert (polled["status"], polled["error"]) == (
        "EXPIRED",
        "no delivery receipt from the carrier within 30 seconds",
    )


async def test_a_simulated_receipt_in_time_clears_the_deadline(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(simulation=True)
    assert await stack.deadline(customer_id) == stack.clock.now + _s(HOUR)
    await stack.simulate()
    assert await stack.deadline(customer_id) is None


@pytest.mark.parametrize("value", [0, -1, 604801, "60", 1.5, True])
async def test_validity_period_out_of_range_is_400_naming_it(
    stack: TimeoutStack, value: object
) -> None:
    response = await stack.send(simulation=True, validityPeriod=value)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "validityPeriod" in [e["field"] for e in response.json()["errors"]]


async def test_validity_period_is_part_of_the_idempotent_request(stack: TimeoutStack) -> None:
    first = await stack.send(simulation=True, messageId="v-1", validityPeriod=60)
    assert first.status_code == 201
    again = await stack.send(simulation=True, messageId="v-1", validityPeriod=60)
    assert again.status_code == 200
    other = await stack.send(simulation=True, messageId="v-1", validityPeriod=61)
    assert other.status_code == 409


async def test_the_history_of_an_unknown_message_is_404(stack: TimeoutStack) -> None:
    response = await stack.api.get(
        "/api/partner-gateway/v1/messages/status/nope/reports", headers=stack.key.headers
    )
    assert response.status_code == 404


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
