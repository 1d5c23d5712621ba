"""The simulation object's rule (docs/simulation.md): the steps a simulated message takes, and
how the object is checked. Table-driven: each row is what a customer asks for and what their
receiver must then see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.simulation import (
    Fault,
    SimStep,
    SimulationOptions,
    check_simulation,
    parse_simulation,
    resume_at,
    simulation_steps,
)
from dlrhub.domain.status import Channel, MessageStatus

S = MessageStatus
D = timedelta(seconds=2)
ZERO = timedelta(0)
WA, SMS = Channel.WHATSAPP, Channel.SMS
PLAIN = "+393401234567"


def _opts(outcome: S | None = None, *faults: Fault, delay_ms: int | None = None) -> Any:
    return SimulationOptions(outcome=outcome, delay_ms=delay_ms, faults=tuple(faults))


def _reports(steps: tuple[SimStep, ...]) -> list[tuple[S | None, ...]]:
    return [step.reports for step in steps]


@pytest.mark.parametrize(
    ("destination", "channel", "options", "expected"),
    [
        # `true` keeps the destination-digit rules, READ only after an applied DELIVERED.
        (PLAIN, SMS, None, [(S.DELIVERED,)]),
        (PLAIN, WA, None, [(S.DELIVERED,), (S.READ,)]),
        ("+393400000003", WA, None, [(S.DELIVERED,)]),
        ("+393400000006", WA, None, [(S.ERROR,)]),
        ("+393400000008", SMS, None, [(S.EXPIRED,)]),
        # An explicit outcome is the final state, whatever the digits.
        ("+393400000006", SMS, _opts(S.DELIVERED), [(S.DELIVERED,)]),
        (PLAIN, WA, _opts(S.DELIVERED), [(S.DELIVERED,)]),
        (PLAIN, SMS, _opts(S.ERROR), [(S.ERROR,)]),
        (PLAIN, SMS, _opts(S.EXPIRED), [(S.EXPIRED,)]),
        (PLAIN, WA, _opts(S.READ), [(S.DELIVERED,), (S.READ,)]),
        # An object without outcome keeps the digits' outcome (and READ on WhatsApp).
        (PLAIN, WA, _opts(None, Fault.DUPLICATE), [(S.DELIVERED,), (S.READ,), (S.DELIVERED,)]),
        # duplicate: the final receipt twice.
        (PLAIN, SMS, _opts(S.DELIVERED, Fault.DUPLICATE), [(S.DELIVERED,), (S.DELIVERED,)]),
        (PLAIN, SMS, _opts(S.ERROR, Fault.DUPLICATE), [(S.ERROR,), (S.ERROR,)]),
        (PLAIN, WA, _opts(S.READ, Fault.DUPLICATE), [(S.DELIVERED,), (S.READ,), (S.READ,)]),
        # reorder: READ first (applied as DELIVERED then READ), the DELIVERED late.
        (PLAIN, WA, _opts(S.READ, Fault.REORDER), [(S.DELIVERED, S.READ), (S.DELIVERED,)]),
        # intermediate: ENROUTE before the final state.
        (PLAIN, SMS, _opts(S.ERROR, Fault.INTERMEDIATE), [(None,), (S.ERROR,)]),
        # lost: no final receipt at all.
        (PLAIN, SMS, _opts(S.DELIVERED, Fault.LOST), []),
        (PLAIN, WA, _opts(S.READ, Fault.LOST), []),
        (PLAIN, SMS, _opts(S.DELIVERED, Fault.INTERMEDIATE, Fault.LOST), [(None,)]),
        (
            PLAIN,
            WA,
            _opts(S.READ, Fault.INTERMEDIATE, Fault.REORDER, Fault.DUPLICATE),
            [(None,), (S.DELIVERED, S.READ), (S.DELIVERED,), (S.READ,)],
        ),
    ],
)
def test_steps(destination: str, channel: Channel, options: Any, expected: list[Any]) -> None:
    assert _reports(simulation_steps(destination, channel, options, D)) == expected


@pytest.mark.parametrize(
    ("options", "afters"),
    [
        (None, [D]),
        (_opts(S.DELIVERED, delay_ms=500), [timedelta(milliseconds=500)]),
        (_opts(S.DELIVERED, Fault.INTERMEDIATE), [D / 2, D / 2]),  # final still at one delay
        (_opts(S.DELIVERED, Fault.DUPLICATE), [D, D]),
        (_opts(S.DELIVERED, Fault.DUPLICATE, delay_ms=0), [ZERO, ZERO]),
        (_opts(S.DELIVERED, Fault.INTERMEDIATE, delay_ms=3), [timedelta(microseconds=1500)] * 2),
    ],
)
def test_step_delays(options: Any, afters: list[timedelta]) -> None:
    assert [s.after for s in simulation_steps(PLAIN, SMS, options, D)] == afters


def test_only_trues_read_needs_the_delivery_applied() -> None:
    (_, read) = simulation_steps(PLAIN, WA, None, D)
    assert read.needs_applied
    steps = simulation_steps(PLAIN, WA, _opts(S.READ, Fault.DUPLICATE), D)
    assert [s.needs_applied for s in steps] == [False, True, False]


@pytest.mark.parametrize(
    ("sim_next", "expected"),
    [("0", 0), ("1", 1), ("2", None), ("DELIVERED", 0), ("READ", 1), ("ERROR", None)],
)
def test_resume_at_step_indexes_and_older_status_names(sim_next: str, expected: Any) -> None:
    assert resume_at(sim_next, simulation_steps(PLAIN, WA, None, D)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, (True, None)),
        (False, (False, None)),
        ({}, (True, _opts())),
        ({"outcome": "READ"}, (True, _opts(S.READ))),
        (
            {"outcome": "ERROR", "delayMs": 0, "faults": ["lost", "intermediate"]},
            (True, _opts(S.ERROR, Fault.LOST, Fault.INTERMEDIATE, delay_ms=0)),
        ),
        ({"delayMs": 600000}, (True, _opts(delay_ms=600000))),
    ],
)
def test_parse_accepts(value: object, expected: Any) -> None:
    assert parse_simulation(value) == expected


@pytest.mark.parametrize(
    ("value", "fields"),
    [
        ("yes", ["simulation"]),
        ([], ["simulation"]),
        ({"outcome": "SENT"}, ["simulation.outcome"]),
        ({"outcome": 3}, ["simulation.outcome"]),
        ({"delayMs": -1}, ["simulation.delayMs"]),
        ({"delayMs": 600001}, ["simulation.delayMs"]),
        ({"delayMs": True}, ["simulation.delayMs"]),
        ({"delayMs": 1.5}, ["simulation.delayMs"]),
        ({"faults": "lost"}, ["simulation.faults"]),
        ({"faults": ["late"]}, ["simulation.faults"]),
        ({"faults": ["lost", "lost"]}, ["simulation.faults"]),
        ({"speed": 1}, ["simulation.speed"]),
        (
            {"outcome": "X", "delayMs": -1, "faults": [1]},
            ["simulation.outcome", "simulation.delayMs", "simulation.faults"],
        ),
    ],
)
def test_parse_refuses_naming_each_field(value: object, fields: list[str]) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_simulation(value)
    assert [e.field for e in raised.value.errors] == fields


@pytest.mark.parametrize(
    ("options", "channel", "problems"),
    [
        (_opts(S.READ), WA, []),
        (_opts(S.READ), Channel.RCS, []),
        (_opts(S.READ), SMS, ["simulation.outcome"]),
        (_opts(S.READ, Fault.REORDER), WA, []),
        (_opts(S.DELIVERED, Fault.REORDER), WA, ["simulation.faults"]),
        (_opts(None, Fault.REORDER), WA, ["simulation.faults"]),
        (_opts(S.DELIVERED, Fault.LOST, Fault.DUPLICATE), SMS, ["simulation.faults"]),
        (_opts(S.READ, Fault.LOST, Fault.REORDER), WA, ["simulation.faults"]),
        (_opts(S.DELIVERED, Fault.LOST, Fault.INTERMEDIATE), SMS, []),
    ],
)
def test_check_against_the_channel_and_between_faults(
    options: SimulationOptions, channel: Channel, problems: list[str]
) -> None:
    assert [p.field for p in check_simulation(options, channel)] == problems


def test_options_round_trip_through_their_stored_form() -> None:
    options = _opts(S.READ, Fault.REORDER, Fault.DUPLICATE, delay_ms=5)
    assert options.to_json() == {
        "outcome": "READ",
        "delayMs": 5,
        "faults": ["reorder", "duplicate"],
    }
    assert SimulationOptions.from_json(options.to_json()) == options
    assert SimulationOptions.from_json(_opts().to_json()) == _opts()
