"""`dlrhub carriers`, the carriers' lines of `dlrhub status`, and `dlrhub accounts add-number
--channel SMS` (SPEC §11.2, issue 11) through the real CLI, in a subprocess, on both databases.
Session slots are written as the SMPP workers write them (store/carrier_sessions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from dlrhub.domain.sending import SendFields
from dlrhub.domain.status import Channel
from dlrhub.store import carrier_sessions
from dlrhub.wiring.hub import Hub, utcnow
from tests.support.cli import run_cli
from tests.support.stack import make_settings

pytestmark = pytest.mark.e2e

BIND = "smpp://sysid:s3cretpw@127.0.0.1:2775?sessions=3"
BIND_NAME = "sysid@127.0.0.1:2775"
# A bind the CLI's own settings do not name: configured in the workers only.
OTHER_BIND = "other@10.0.0.9:2776"


def _env(db_url: str, binds: str = "") -> dict[str, str]:
    return {
        "DLRHUB_DATABASE_URL": db_url,
        "DLRHUB_LOG_LEVEL": "warning",
        "DLRHUB_SMPP_BINDS": binds,
    }


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(run_cli, *args, env=env)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
async def smpp_hub(db_url: str) -> AsyncIterator[Hub]:
    hub = Hub.build(make_settings(db_url, smpp_binds=BIND))
    try:
        yield hub
    finally:
        await hub.db.dispose()


async def _hold(hub: Hub, bind: str, slots: int, worker: str, state: str, lease_s: float) -> int:
    """A worker claims a slot and publishes its session's state, its lease ending in
    `lease_s` seconds (negative: it stopped renewing that long ago)."""
    now = utcnow()
    async with hub.db.transaction() as conn:
        slot = await carrier_sessions.claim_slot(
            conn,
            bind=bind,
            slots=slots,
            worker=worker,
            now=now,
            lease_until=now + timedelta(seconds=30),
            state="binding",
        )
        assert slot is not None
        renewed = await carrier_sessions.renew_slot(
            conn,
            bind=bind,
            slot=slot,
            worker=worker,
            now=now,
            lease_until=now + timedelta(seconds=lease_s),
            state=state,
            counters={"submitted": 12, "receipts": 5} if lease_s > 0 else {},
        )
        assert renewed
    return slot


async def test_nothing_configured_names_the_setting(db_url: str) -> None:
    env = _env(db_url)
    code, out, err = await _cli(env, "carriers")
    assert code == 0, err
    assert "no carrier connector is configured: set DLRHUB_SMPP_BINDS" in out
    assert "smpp://SYSTEM_ID:PASSWORD@HOST:PORT" in out
    assert "submission queue: 0 waiting (SMS 0, WHATSAPP 0, RCS 0)" in out
    code, out, err = await _cli(env, "status")
    assert code == 0, err
    assert "carriers: none configured (DLRHUB_SMPP_BINDS)\n" in out
    assert "submissions: 0 waiting (SMS 0, WHATSAPP 0, RCS 0)\n" in out


async def test_carriers_prints_every_bind_session_and_the_queue(smpp_hub: Hub) -> None:
    account = (await smpp_hub.accounts.create("carriers-cli")).account_id
    for body in ("one", "two"):
        await smpp_hub.messaging.send(account, SendFields(Channel.SMS, "+393401234567", body), None)
    assert await _hold(smpp_hub, BIND_NAME, 3, "worker-a", "bound", 30) == 0
    assert await _hold(smpp_hub, BIND_NAME, 3, "worker-b", "bound", -5) == 1
    assert await _hold(smpp_hub, OTHER_BIND, 1, "worker-c", "binding", 30) == 0
    env = _env(smpp_hub.settings.database_url, BIND)

    code, out, err = await _cli(env, "carriers")
    assert code == 0, err
    print(out)
    assert "no carrier connector" not in out
    assert "s3cretpw" not in out + err  # the bind is named without its password
    lines = out.splitlines()
    assert f"bind {BIND_NAME}: 1 of 3 sessions bound, 3 configured" in lines
    slot_lines = [line.strip() for line in lines if line.startswith("  slot ")]
    assert slot_lines[0].startswith("slot 0: bound, holder worker-a, lease until 20")
    assert "receipts=5 submitted=12" in slot_lines[0]
    # Its holder stopped renewing: the slot is down, whatever it last published.
    assert slot_lines[1].startswith("slot 1: down, holder worker-b stopped renewing (lease ran")
    assert slot_lines[2].startswith("slot 2: down, no holder, no counters")
    assert f"bind {OTHER_BIND}: 0 of 1 sessions bound" in lines
    assert slot_lines[3].startswith("slot 0: binding, holder worker-c")
    assert "submission queue: 2 waiting (SMS 2, WHATSAPP 0, RCS 0)" in lines

    code, out, err = await _cli(env, "status")
    assert code == 0, err
    assert f"bind {BIND_NAME}: 1 of 3 sessions bound\n" in out
    assert f"bind {OTHER_BIND}: 0 of 1 sessions bound\n" in out
    assert "submissions: 2 waiting (SMS 2, WHATSAPP 0, RCS 0)\n" in out
    assert "carriers: none configured" not in out


async def test_a_configured_bind_no_worker_claimed_yet(db_url: str) -> None:
    code, out, err = await _cli(_env(db_url, BIND), "carriers")
    assert code == 0, err
    assert f"bind {BIND_NAME}: 0 of 3 sessions bound, 3 configured\n" in out
    assert "no session claimed yet" in out


async def test_add_number_for_sms(db_url: str) -> None:
    env = _env(db_url)
    code, out, err = await _cli(env, "accounts", "create", "mo-owner")
    assert code == 0, err
    code, out, err = await _cli(env, "accounts", "create", "mo-other")
    assert code == 0, err

    code, out, err = await _cli(env, "accounts", "add-number", "mo-owner", "+393409876543")
    assert code == 0, err
    assert out.startswith("+393409876543 now belongs to account ")
    assert out.rstrip().endswith(" for SMS")

    # A number receives one account's replies: a second registration, by anyone, is refused.
    for owner in ("mo-owner", "mo-other"):
        code, out, err = await _cli(
            env, "accounts", "add-number", owner, "+393409876543", "--channel", "SMS"
        )
        assert code == 1, out
        assert "error: +393409876543 is already registered to an account for SMS" in err

    # The RBM agent's number (one agent per deployment): one account gets its replies.
    code, out, err = await _cli(
        env, "accounts", "add-number", "mo-owner", "+393401111111", "--channel", "RCS"
    )
    assert code == 0, err
    assert out.rstrip().endswith(" for RCS")
    code, out, err = await _cli(
        env, "accounts", "add-number", "mo-other", "+393402222222", "--channel", "RCS"
    )
    assert code == 1, out
    assert "error: the RBM agent's number is already registered (+393401111111)" in err

    code, out, err = await _cli(env, "accounts", "add-number", "mo-owner", "393401111111")
    assert code == 1, out
    assert "error: number is not a valid E.164 phone number" in err

    code, out, err = await _cli(
        env, "accounts", "add-number", "mo-owner", "+393401111111", "--channel", "fax"
    )
    assert code == 2, out
    assert "channel is SMS, RCS or WHATSAPP" in err

    code, out, err = await _cli(env, "accounts", "add-number", "nobody", "+393401111111")
    assert code == 1, out
    assert "error: no account 'nobody'" in err
