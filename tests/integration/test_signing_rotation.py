"""SPEC §7: after a rotation the old secret keeps signing for 24 h, then only the new one signs.
A clock the test moves, the real dispatcher in-process, a real HTTPS receiver; both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dlrhub.domain.status import Channel
from dlrhub.wiring.hub import Hub
from tests.support.receiver import ReceivedRequest, Receiver
from tests.support.stack import make_settings, running_workers
from tests.support.stdwebhooks import SignatureError, verify
from tests.support.tls import make_tls


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _verifies(secret: str, request: ReceivedRequest, clock: MovableClock) -> bool:
    try:
        verify(secret, request.headers, request.body, now=clock.now.timestamp())
    except SignatureError:
        return False
    return True


async def test_rotated_out_secret_signs_for_24_hours_then_stops(
    db_url: str, tmp_path: Path
) -> None:
    tls = make_tls(tmp_path)
    clock = MovableClock()
    hub = Hub.build(make_settings(db_url, ca_bundle=tls.ca_pem_path), clock=clock)
    try:
        with Receiver(tls) as receiver:
            created = await hub.accounts.create("rotating")
            account_id = created.account_id
            await hub.delivery_status.create(account_id, receiver.url_for("/hook"))
            old = (await hub.accounts.signing_secret(account_id)).secret
            clock.now += timedelta(minutes=1)  # secrets are ordered by when they were made
            rotated = await hub.accounts.rotate_signing_secret(account_id)
            new = rotated.secret
            assert rotated.previous_expires_at == clock.now + timedelta(hours=24)

            async def deliver_one(number: int) -> ReceivedRequest:
                await hub.messaging.receive_inbound(
                    account_id,
                    source=f"+39340000{number:04d}",
                    destination="+393409876543",
                    channel=Channel.SMS,
                    text=f"reply {number}",
                )
                arrived = await receiver.await_for(number)
                return arrived[-1]

            async with running_workers(hub):
                clock.now += timedelta(hours=24) - timedelta(seconds=1)
                during = await deliver_one(1)
                assert len(during.headers["webhook-signature"].split(" ")) == 2
                assert _verifies(old, during, clock)
                assert _verifies(new, during, clock)

                clock.now += timedelta(seconds=2)
                after = await deliver_one(2)
                assert len(after.headers["webhook-signature"].split(" ")) == 1
                assert _verifies(new, after, clock)
                assert not _verifies(old, after, clock)
            view = await hub.accounts.signing_secret(account_id)
            assert (view.secret, view.previous_expires_at) == (new, None)
    finally:
        await hub.db.dispose()
