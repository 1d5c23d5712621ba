"""The sweep of receipts that overtook their acceptance, run by every process with a carrier
connector (services/carrier_receipts.py, `CarrierReceipts.sweep`).

On PostgreSQL a report and the acceptance it reports on can commit at the same moment from two
processes, neither seeing the other's row: the report is kept and the acceptance finds nothing
to apply. Every connector — SMPP receipts, WhatsApp and RBM statuses — can meet this, so the
sweep runs whenever any connector is configured, not with one of them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from dlrhub.services.carrier_receipts import CarrierReceipts
from dlrhub.store.signals import wait_for_any

log = structlog.get_logger(__name__)

# How long a report naming no accepted part is kept for an acceptance still to be recorded:
# far longer than any carrier's answer takes, short enough that stray reports do not pile up.
KEPT_FOR = timedelta(hours=1)


class EarlyReceiptSweeper:
    def __init__(self, receipts: CarrierReceipts, *, interval_s: float) -> None:
        self._receipts = receipts
        self._interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._receipts.sweep(keep_for=KEPT_FOR)
            except Exception:
                log.exception("sweeping kept receipts failed")
            await wait_for_any([stop], self._interval_s)
