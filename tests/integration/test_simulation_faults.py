"""Simulation that behaves like real carriers (docs/simulation.md, issue 13 item 3), on both
databases, the simulator driven step by step on a clock the test moves: the outcome and delay
chosen, and each fault as a receiver sees it (events) and as the report history lists it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.timeouts_stack import TimeoutStack, timeout_stack

WA = "whatsapp"


@pytest.fixture
async def stack(db_url: str) -> AsyncIterator[TimeoutStack]:
    # The default delay is 0: each test gives its own delayMs where timing matters.
    async with timeout_stack(db_url, receipt_timeout_s=3600) as built:
        yield built


def _logged(history: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(r["status"], r["outcome"]) for r in history]


async def test_outcome_and_delay_are_the_senders(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(
        destination="+393400000006", simulation={"outcome": "DELIVERED", "delayMs": 5000}
    )
    stack.clock.advance(4)
    assert await stack.simulate() == 0
    stack.clock.advance(1)
    assert await stack.simulate() == 1
    assert (await stack.status(customer_id))["status"] == "DELIVERED"  # not the digits' ERROR
    assert await stack.events(customer_id) == [("DELIVERY", 3)]


async def test_true_keeps_the_digit_rules(stack: TimeoutStack) -> None:
    read = await stack.sent(WA, simulation=True)
    error = await stack.sent(WA, destination="+393400000006", simulation=True)
    await stack.simulate()
    assert await stack.events(read) == [("DELIVERY", 3), ("READ", None)]
    assert await stack.events(error) == [("DELIVERY", 6)]


async def test_duplicate_reports_the_final_receipt_twice(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(
        simulation={"outcome": "ERROR", "delayMs": 1000, "faults": ["duplicate"]}
    )
    stack.clock.advance(1)
    await stack.simulate()
    stack.clock.advance(1)
    await stack.simulate()
    polled = await stack.status(customer_id)
    assert (polled["status"], polled["error"]) == ("ERROR", "Simulated: recipient unreachable")
    assert await stack.events(customer_id) == [("DELIVERY", 6)]  # one event
    assert _logged(await stack.reports(customer_id)) == [
        ("ERROR", "applied"),
        ("ERROR", "ignored"),
    ]


async def test_reorder_reports_read_before_delivered(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(
        WA, simulation={"outcome": "READ", "delayMs": 1000, "faults": ["reorder"]}
    )
    stack.clock.advance(1)
    assert await stack.simulate() == 1
    # The READ came first: applied as DELIVERED then READ, in one step.
    assert sorted(await stack.events(customer_id)) == [("DELIVERY", 3), ("READ", None)]
    stack.clock.advance(1)
    assert await stack.simulate() == 1
    assert (await stack.status(customer_id))["status"] == "READ"
    assert len(await stack.events(customer_id)) == 2  # the late DELIVERED changed nothing
    assert _logged(await stack.reports(customer_id)) == [
        ("DELIVERED", "applied"),
        ("READ", "applied"),
        ("DELIVERED", "ignored"),
    ]


async def test_intermediate_reports_enroute_first_without_an_event(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(
        simulation={"outcome": "EXPIRED", "delayMs": 2000, "faults": ["intermediate"]}
    )
    stack.clock.advance(1)
    assert await stack.simulate() == 1
    assert (await stack.status(customer_id))["status"] == "SENT"
    assert await stack.events(customer_id) == []
    (enroute,) = await stack.reports(customer_id)
    assert (enroute["status"], enroute["outcome"], enroute["detail"]) == (
        None,
        "ignored",
        "ENROUTE",
    )
    stack.clock.advance(1)
    assert await stack.simulate() == 1
    assert await stack.events(customer_id) == [("DELIVERY", 8)]


async def test_lost_never_reports_and_the_timeout_fires(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(
        WA, simulation={"outcome": "READ", "faults": ["lost"]}, validityPeriod=10
    )
    stack.clock.advance(9)
    assert await stack.simulate() == 0
    assert await stack.sweep() == 0
    stack.clock.advance(1)
    assert await stack.sweep() == 1
    assert await stack.events(customer_id) == [("DELIVERY", 8)]
    assert _logged(await stack.reports(customer_id)) == [("EXPIRED", "applied")]


async def test_a_simulated_receipt_after_the_timeout_is_late(stack: TimeoutStack) -> None:
    customer_id = await stack.sent(
        simulation={"outcome": "DELIVERED", "delayMs": 5000}, validityPeriod=2
    )
    stack.clock.advance(2)
    assert await stack.sweep() == 1
    stack.clock.advance(3)
    assert await stack.simulate() == 1
    assert (await stack.status(customer_id))["status"] == "EXPIRED"
    assert _logged(await stack.reports(customer_id)) == [
        ("EXPIRED", "applied"),
        ("DELIVERED", "late"),
    ]


@pytest.mark.parametrize(
    ("channel", "simulation", "field"),
    [
        ("sms", {"outcome": "READ"}, "simulation.outcome"),
        ("sms", {"outcome": "SENT"}, "simulation.outcome"),
        ("sms", {"delayMs": 600001}, "simulation.delayMs"),
        ("sms", {"faults": ["flaky"]}, "simulation.faults"),
        ("sms", {"faults": ["lost", "lost"]}, "simulation.faults"),
        (WA, {"outcome": "DELIVERED", "faults": ["reorder"]}, "simulation.faults"),
        ("sms", {"faults": ["lost", "duplicate"]}, "simulation.faults"),
        ("sms", {"colour": "red"}, "simulation.colour"),
        ("sms", "yes", "simulation"),
    ],
)
async def test_a_wrong_simulation_is_400_naming_the_field(
    stack: TimeoutStack, channel: str, simulation: object, field: str
) -> None:
    response = await stack.send(channel, simulation=simulation)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]], response.text


async def test_the_options_are_part_of_the_idempotent_request(stack: TimeoutStack) -> None:
    options = {"outcome": "ERROR", "faults": ["duplicate"]}
    assert (await stack.send(simulation=options, messageId="s-1")).status_code == 201
    assert (await stack.send(simulation=options, messageId="s-1")).status_code == 200
    changed = {"outcome": "ERROR", "faults": ["intermediate"]}
    assert (await stack.send(simulation=changed, messageId="s-1")).status_code == 409
    assert (await stack.send(simulation=True, messageId="s-1")).status_code == 409
