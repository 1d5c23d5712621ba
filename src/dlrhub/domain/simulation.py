"""Deterministic outcomes for simulated messages (SPEC §10).

The destination's last four digits pick the outcome, so integrators can exercise every
branch of their webhook handler without a carrier. A simulation object (docs/simulation.md)
chooses the outcome, the delay and faults real carriers have: `simulation_steps` is the list
of reports such a message takes, which the simulator's durable schedule walks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.status import READ_CHANNELS, Channel, MessageStatus

__all__ = [
    "MAX_SIM_DELAY_MS",
    "Fault",
    "SimStep",
    "SimulationOptions",
    "check_simulation",
    "parse_simulation",
    "resume_at",
    "simulated_error",
    "simulated_outcome",
    "simulated_read_follows",
    "simulation_steps",
]

_ERROR_SUFFIX = "0006"
_EXPIRED_SUFFIX = "0008"
_NEVER_READ_SUFFIX = "0003"


def simulated_outcome(destination: str) -> MessageStatus:
    """Return the final status a simulated message to ``destination`` reaches."""
    if destination.endswith(_ERROR_SUFFIX):
        return MessageStatus.ERROR
    if destination.endswith(_EXPIRED_SUFFIX):
        return MessageStatus.EXPIRED
    return MessageStatus.DELIVERED


def simulated_error(status: MessageStatus) -> str | None:
    """Return the ``error`` text reported with a simulated ``status``."""
    if status == MessageStatus.ERROR:
        return "Simulated: recipient unreachable"
    if status == MessageStatus.EXPIRED:
        return "Simulated: validity period expired"
    return None


def simulated_read_follows(destination: str, channel: Channel, outcome: MessageStatus) -> bool:
    """Return whether a simulated delivered message is then reported as READ."""
    return (
        outcome == MessageStatus.DELIVERED
        and channel in READ_CHANNELS
        and not destination.endswith(_NEVER_READ_SUFFIX)
    )


MAX_SIM_DELAY_MS = 600_000
_OUTCOMES = (
    MessageStatus.DELIVERED,
    MessageStatus.ERROR,
    MessageStatus.EXPIRED,
    MessageStatus.READ,
)
_KEYS = ("outcome", "delayMs", "faults")
# What a simulated intermediate report says (SMPP's ENROUTE: no event, logged only).
INTERMEDIATE = "ENROUTE"


class Fault(StrEnum):
    DUPLICATE = "duplicate"  # the final receipt reported twice
    REORDER = "reorder"  # READ reported before DELIVERED
    INTERMEDIATE = "intermediate"  # ENROUTE before the final state
    LOST = "lost"  # no final receipt at all: the receipt timeout fires


@dataclass(frozen=True)
class SimulationOptions:
    """`"simulation": {...}`; None fields fall back to `true`'s rules and the setting."""

    outcome: MessageStatus | None = None
    delay_ms: int | None = None
    faults: tuple[Fault, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The wire form, as stored (and read back by `from_json`)."""
        out: dict[str, object] = {"faults": [fault.value for fault in self.faults]}
        if self.outcome is not None:
            out["outcome"] = self.outcome.value
        if self.delay_ms is not None:
            out["delayMs"] = self.delay_ms
        return out

    @classmethod
    def from_json(cls, stored: Mapping[str, object]) -> SimulationOptions:
        outcome, delay, faults = stored.get("outcome"), stored.get("delayMs"), stored.get("faults")
        return cls(
            outcome=None if outcome is None else MessageStatus(str(outcome)),
            delay_ms=delay if isinstance(delay, int) else None,
            faults=tuple(Fault(str(f)) for f in faults) if isinstance(faults, list) else (),
        )


def parse_simulation(value: object) -> tuple[bool, SimulationOptions | None]:
    """A send's `simulation`: `true`/`false`, or an object (simulated, with options).
    Raises with every problem, each naming its field (`simulation.outcome`, …)."""
    if isinstance(value, bool):
        return value, None
    if not isinstance(value, Mapping):
        problem = FieldError("simulation", "must be true, false or an object")
        raise InvalidInput("simulation must be true, false or an object", errors=[problem])
    problems = [
        FieldError(f"simulation.{key}", "is not a known option (outcome, delayMs, faults)")
        for key in value
        if key not in _KEYS
    ]
    options = SimulationOptions(
        outcome=_outcome(value.get("outcome"), problems),
        delay_ms=_delay(value.get("delayMs"), problems),
        faults=_faults(value.get("faults"), problems),
    )
    if problems:
        raise InvalidInput("; ".join(f"{p.field} {p.message}" for p in problems), errors=problems)
    return True, options


def _outcome(value: object, problems: list[FieldError]) -> MessageStatus | None:
    if value is None:
        return None
    names = [status.value for status in _OUTCOMES]
    if not isinstance(value, str) or value not in names:
        problems.append(FieldError("simulation.outcome", "must be one of " + ", ".join(names)))
        return None
    return MessageStatus(value)


def _delay(value: object, problems: list[FieldError]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIM_DELAY_MS:
        problems.append(
            FieldError("simulation.delayMs", f"must be a whole number 0 to {MAX_SIM_DELAY_MS}")
        )
        return None
    return value


def _faults(value: object, problems: list[FieldError]) -> tuple[Fault, ...]:
    if value is None:
        return ()
    known = [fault.value for fault in Fault]
    if not isinstance(value, list) or not all(isinstance(f, str) and f in known for f in value):
        problems.append(FieldError("simulation.faults", "must be a list of " + ", ".join(known)))
        return ()
    if len(set(value)) != len(value):
        problems.append(FieldError("simulation.faults", "must not repeat a fault"))
        return ()
    return tuple(Fault(f) for f in value)


def check_simulation(options: SimulationOptions, channel: Channel) -> list[FieldError]:
    """The rules between the options and the channel, and between the faults."""
    problems: list[FieldError] = []
    if options.outcome is MessageStatus.READ and channel not in READ_CHANNELS:
        problems.append(FieldError("simulation.outcome", "READ only on WHATSAPP and RCS"))
    faults = set(options.faults)
    if Fault.REORDER in faults and options.outcome is not MessageStatus.READ:
        problems.append(FieldError("simulation.faults", 'reorder needs "outcome": "READ"'))
    if Fault.LOST in faults and faults & {Fault.DUPLICATE, Fault.REORDER}:
        problems.append(
            FieldError("simulation.faults", "lost leaves no receipt to duplicate or reorder")
        )
    return problems


@dataclass(frozen=True)
class SimStep:
    """One step of a simulated message: `after` the previous step (or the send), the
    reports it makes in order (None: an intermediate ENROUTE). `needs_applied`: taken only if
    the previous step changed the message (`true`'s rule: READ follows an applied DELIVERED)."""

    after: timedelta
    reports: tuple[MessageStatus | None, ...]
    needs_applied: bool = False


def simulation_steps(
    destination: str,
    channel: Channel,
    options: SimulationOptions | None,
    default_delay: timedelta,
) -> tuple[SimStep, ...]:
    """The reports a simulated message takes. The final state comes one delay after the send
    (ENROUTE half-way before it); each later report (READ, the late DELIVERED, the duplicate)
    one delay after the one before; `lost` ends the message with no final report."""
    opts = options or SimulationOptions()
    delay = default_delay if opts.delay_ms is None else timedelta(milliseconds=opts.delay_ms)
    faults = set(opts.faults)
    outcome = opts.outcome or simulated_outcome(destination)
    steps: list[SimStep] = []
    first = delay
    if Fault.INTERMEDIATE in faults:
        steps.append(SimStep(delay / 2, (None,)))
        first = delay - delay / 2
    if Fault.LOST in faults:
        return tuple(steps)
    if outcome is MessageStatus.READ and Fault.REORDER in faults:
        # A READ never reported delivered is applied as DELIVERED then READ (SPEC §11.3).
        steps.append(SimStep(first, (MessageStatus.DELIVERED, MessageStatus.READ)))
        steps.append(SimStep(delay, (MessageStatus.DELIVERED,)))
    elif outcome is MessageStatus.READ or (
        opts.outcome is None and simulated_read_follows(destination, channel, outcome)
    ):
        steps.append(SimStep(first, (MessageStatus.DELIVERED,)))
        steps.append(SimStep(delay, (MessageStatus.READ,), needs_applied=True))
    else:
        steps.append(SimStep(first, (outcome,)))
    if Fault.DUPLICATE in faults:
        steps.append(SimStep(delay, (outcome,)))
    return tuple(steps)


def resume_at(sim_next: str, steps: tuple[SimStep, ...]) -> int | None:
    """The step a stored `sim_next` names: its index, written since simulation objects; a
    status name in rows scheduled before (`true`'s steps, by the status they report)."""
    if sim_next.isdigit():
        index = int(sim_next)
        return index if index < len(steps) else None
    for index, step in enumerate(steps):
        if step.reports == (MessageStatus(sim_next),):
            return index
    return None
