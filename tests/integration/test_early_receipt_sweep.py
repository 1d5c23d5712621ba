"""Reports that overtook their acceptance are applied by every process with a connector
(carriers/early_receipts.py), on both databases: with only the WhatsApp connector configured —
no SMPP bind — a kept status whose part was recorded by a concurrent transaction (the
PostgreSQL race the sweep exists for, set up here row by row) still moves its message."""

from __future__ import annotations

import socket
import uuid

from dlrhub.domain.sending import SendFields
from dlrhub.domain.status import Channel, MessageStatus
from dlrhub.store import carrier_ids
from dlrhub.store.carrier_ids import EarlyReceipt, Part
from dlrhub.wiring.hub import Hub
from tests.support.stack import make_settings, running_workers
from tests.support.waiting import wait_until

WABA = "+393409876543"


def _closed_port() -> int:
    """A loopback port nothing listens on: the connector's sends fail and are tried later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_status_kept_before_its_acceptance_is_applied_without_smpp(db_url: str) -> None:
    settings = make_settings(
        db_url,
        whatsapp_token="token",
        whatsapp_app_secret="secret",
        whatsapp_api_url=f"http://127.0.0.1:{_closed_port()}/v21.0",
    )
    assert not settings.smpp_binds
    hub = Hub.build(settings)
    try:
        account = (await hub.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")).account_id
        await hub.accounts.add_waba_number(account, WABA, "1234567890")
        fields = SendFields(
            channel=Channel.WHATSAPP,
            destination="+393401234567",
            body="hello",
            phone_number_id=WABA,
        )
        message = (await hub.messaging.send(account, fields, None)).message
        now = hub.clock()
        async with hub.db.transaction() as conn:
            # What two concurrent transactions leave behind: the status kept (no part yet in
            # its snapshot), and the acceptance recorded (no kept status in its snapshot).
            await carrier_ids.keep_early(
                conn,
                [EarlyReceipt("r1", ("wamid.X",), MessageStatus.DELIVERED, None, now)],
            )
            await carrier_ids.insert_parts(
                conn, [Part(message.id, 0, "wamid.X", "wamid.X", None)], now
            )
        async with running_workers(hub):

            async def delivered() -> bool:
                found = await hub.messaging.status(account, message.customer_message_id)
                return found.status is MessageStatus.DELIVERED

            await wait_until(delivered, timeout=10, what="the kept status applied")
    finally:
        await hub.db.dispose()
