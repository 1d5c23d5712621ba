"""What the carrier connectors are doing, for operators (`dlrhub carriers`, `dlrhub status`):
each SMPP bind's session slots as their holders last published them (SPEC §11.2), and how
many submissions wait in the durable queue per channel.

Slots are read from the database, not from this process: the sessions live in the workers,
and any process (the CLI included) sees what they published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dlrhub.domain.clock import Clock
from dlrhub.domain.smpp_binds import SessionState, SmppBind
from dlrhub.domain.status import Channel
from dlrhub.store import carrier_sessions
from dlrhub.store import submissions as submission_store
from dlrhub.store.database import Database

# The state a holder publishes while its session is bound and can submit.
BOUND = SessionState.BOUND.value
DOWN = carrier_sessions.DOWN
# What configures a connector, named when none is (SPEC §11, §13).
SMPP_SETTING = "DLRHUB_SMPP_BINDS"


@dataclass(frozen=True)
class SessionView:
    slot: int
    # The published state while the holder's lease runs; DOWN once it ran out (a dead
    # holder's last word would otherwise show a session as bound that no process keeps).
    state: str
    holder: str | None
    lease_expires_at: datetime | None
    lease_ran_out: bool
    counters: dict[str, int]
    updated_at: datetime


@dataclass(frozen=True)
class BindView:
    name: str
    # `sessions=` of this process's DLRHUB_SMPP_BINDS; None when the bind is known only from
    # the slots in the database (configured in other processes, or earlier).
    configured_sessions: int | None
    sessions: list[SessionView]

    @property
    def bound(self) -> int:
        return sum(1 for session in self.sessions if session.state == BOUND)

    @property
    def slots(self) -> int:
        """Slots known: those in the database, or at least as many as configured."""
        return max(len(self.sessions), self.configured_sessions or 0)


@dataclass(frozen=True)
class CarrierOverview:
    binds: list[BindView]
    queue_depth: dict[Channel, int]  # submissions waiting, every channel listed

    @property
    def configured(self) -> bool:
        return bool(self.binds)


class CarrierStatus:
    def __init__(self, db: Database, clock: Clock, binds: Sequence[SmppBind]) -> None:
        self._db = db
        self._clock = clock
        self._binds = tuple(binds)

    async def overview(self) -> CarrierOverview:
        now = self._clock()
        async with self._db.reading() as conn:
            slots = await carrier_sessions.list_slots(conn)
            depth = await submission_store.depth(conn)
        by_bind: dict[str, list[SessionView]] = {}
        for bind in self._binds:
            by_bind.setdefault(bind.name, [])
        for found in slots:
            by_bind.setdefault(found.bind, []).append(_session(found, now))
        configured = {bind.name: bind.sessions for bind in self._binds}
        return CarrierOverview(
            binds=[
                BindView(name, configured.get(name), sessions) for name, sessions in by_bind.items()
            ],
            queue_depth={channel: depth.get(channel.value, 0) for channel in Channel},
        )


def _session(found: carrier_sessions.SessionSlot, now: datetime) -> SessionView:
    expires = found.lease_expires_at
    # As claim_slot sees it: a lease that ends before `now` can be taken over.
    ran_out = found.holder is not None and (expires is None or expires < now)
    held = found.holder is not None and not ran_out
    return SessionView(
        slot=found.slot,
        state=found.state if held else DOWN,
        holder=found.holder,
        lease_expires_at=expires,
        lease_ran_out=ran_out,
        counters=found.counters,
        updated_at=found.updated_at,
    )
