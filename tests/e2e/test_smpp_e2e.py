"""Real SMS end to end through the real CLI (issue 11; SPEC §11, §11.2).

`dlrhub serve` in a subprocess bound to the node-smpp test SMSC (tests/smsc/server.js, an SMPP
implementation independent of ours), an account made with `dlrhub accounts create`, a real HTTPS
receiver: a send with `simulation: false` is submitted, its receipt comes back, and the signed
webhook carries the right `statusCode` while polling agrees. Replies (MO) to a number registered
with `dlrhub accounts add-number` reach the account as INBOUND. On SQLite and PostgreSQL.

The SMSC decides by the destination's last two digits: `01` ESME_RINVDSTADR, `03` an UNDELIV
receipt, `05` no receipt at all, anything else DELIVRD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dlrhub.store.schema import events
from tests.support.assertions import ISO_Z
from tests.support.cli import ServerProcess, create_account_with_cli, run_cli
from tests.support.contract import DELIVERY_KEYS, INBOUND_KEYS
from tests.support.probes import query
from tests.support.receiver import Receiver
from tests.support.smpp_e2e import (
    answer_to,
    client,
    deliveries_by_message,
    poll,
    register,
    send_real,
    smpp_env,
    submits_to,
)
from tests.support.smsc import Event, TestSmsc, require_node_smsc
from tests.support.stdwebhooks import verify
from tests.support.tls import TestTLS, make_tls

pytestmark = pytest.mark.e2e

StartSmsc = Callable[..., TestSmsc]

# Three parts of GSM 03.38 text (153 characters per part once a UDH takes its 6 octets).
LONG_BODY = ("dlrhub multipart " * 24)[:400]


@pytest.fixture
def start_smsc() -> Iterator[StartSmsc]:
    """`start_smsc(**server_js_env)`: a listening test SMSC, stopped at teardown."""
    node = require_node_smsc()
    started: list[TestSmsc] = []

    def start(**env: str | int) -> TestSmsc:
        smsc = TestSmsc(node, {k: str(v) for k, v in env.items()})
        started.append(smsc)
        smsc.start()
        return smsc

    yield start
    for smsc in started:
        smsc.stop()


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path / "tls")


def test_real_sms_outcomes_reach_webhook_and_polling(
    db_url: str, tmp_path: Path, tls: TestTLS, start_smsc: StartSmsc
) -> None:
    smsc = start_smsc()
    env = smpp_env(db_url, tls, smsc.url())
    cases = {  # customer id -> (destination, status, statusCode)
        "real-ok": ("+447700900123", "DELIVERED", 3),
        "real-refused": ("+447700900101", "ERROR", 6),
        "real-undeliv": ("+447700900103", "ERROR", 6),
    }
    with Receiver(tls=tls) as receiver, ServerProcess(env, tmp_path / "logs") as server:
        key = create_account_with_cli(env, "smpp-e2e")
        with client(server.base_url, key) as http:
            secret = register(http, receiver.url_for("/hook"))
            sent = {cid: send_real(http, dest, cid) for cid, (dest, _, _) in cases.items()}
            payloads = deliveries_by_message(receiver.wait_for(len(cases), timeout=20), secret)
            assert set(payloads) == {s["messageId"] for s in sent.values()}
            for cid, (destination, final, code) in cases.items():
                payload = payloads[sent[cid]["messageId"]]
                view = poll(http, cid)
                assert set(payload) == DELIVERY_KEYS
                assert payload["customerMessageId"] == cid
                assert payload["destination"] == destination
                assert payload["channel"] == "SMS"
                assert (payload["status"], payload["statusCode"]) == (final, code), payload
                assert (view["status"], view["statusCode"]) == (final, code), view
                assert payload["error"] == view["error"]
                assert ISO_Z.match(payload["timestamp"])
            # The SMSC's own reasons: a refused submit_sm, and an UNDELIV receipt.
            assert "ESME_RINVDSTADR" in (poll(http, "real-refused")["error"] or "")
            assert "UNDELIV" in (poll(http, "real-undeliv")["error"] or "")
            assert poll(http, "real-ok")["error"] is None
            assert ISO_Z.match(poll(http, "real-ok")["deliveredAt"])
        for destination, _, _ in cases.values():
            [submit] = submits_to(smsc, destination)  # each submitted exactly once
            assert (submit["source"], submit["source_ton"], submit["source_npi"]) == ("ACME", 5, 0)
            assert (submit["dest_ton"], submit["dest_npi"]) == (1, 1)
            assert submit["registered_delivery"] == 1
            assert submit["text"] == "Hello over SMPP"
        assert server.stop() == 0, server.log_text()
    assert "Traceback" not in server.log_text(), server.log_text()


def test_three_part_sms_is_delivered_after_its_third_receipt(
    db_url: str, tmp_path: Path, tls: TestTLS, start_smsc: StartSmsc
) -> None:
    """A destination ending `05` gets no receipt from the SMSC on its own: the test sends the
    three receipts itself, one at a time, and the message is DELIVERED at the third only."""
    smsc = start_smsc()
    env = smpp_env(db_url, tls, smsc.url())
    destination = "+447700900105"
    with Receiver(tls=tls) as receiver, ServerProcess(env, tmp_path / "logs") as server:
        key = create_account_with_cli(env, "smpp-multipart")
        with client(server.base_url, key) as http:
            secret = register(http, receiver.url_for("/hook"))
            sent = send_real(http, destination, "long-1", LONG_BODY)
            assert sent["totalParts"] == 3
            submits = _wait_for_parts(smsc, destination, 3)
            assert [s["status"] for s in submits] == [0, 0, 0]
            assert all(s["esm_class"] & 0x40 for s in submits)
            udhs = [bytes.fromhex(s["udh"]) for s in submits]
            # 8-bit reference concatenation: 05 00 03 ref total index, one reference for all.
            assert all(u[:3] == b"\x05\x00\x03" for u in udhs), udhs
            assert len({u[3] for u in udhs}) == 1
            assert sorted((u[4], u[5]) for u in udhs) == [(3, 1), (3, 2), (3, 3)]
            ordered = sorted(submits, key=lambda s: bytes.fromhex(s["udh"])[5])
            assert "".join(s["text"] for s in ordered) == LONG_BODY

            for done, submit in enumerate(ordered, start=1):
                smsc.send({"cmd": "receipt", "id": submit["message_id"], "state": 2})
                answer = smsc.wait_for_blocking(answer_to(submit["message_id"]), timeout=10)
                assert answer["status"] == 0, answer
                if done < 3:  # applied (acknowledged after commit), yet not all parts are in
                    assert poll(http, "long-1")["status"] == "SENT"
            [request] = receiver.wait_for(1, timeout=20)
            payloads = deliveries_by_message([request], secret)
            assert payloads[sent["messageId"]]["statusCode"] == 3
            assert poll(http, "long-1")["status"] == "DELIVERED"
        assert len(submits_to(smsc, destination)) == 3
        assert len(receiver.requests) == 1
        assert server.stop() == 0, server.log_text()


def _wait_for_parts(smsc: TestSmsc, destination: str, count: int) -> list[Event]:
    smsc.wait_for_blocking(
        lambda e: e["event"] == "submit" and e["destination"] == destination.lstrip("+"),
        timeout=15,
        skip=count - 1,
    )
    return submits_to(smsc, destination)


def test_sms_reply_to_registered_number_is_inbound(
    db_url: str, tmp_path: Path, tls: TestTLS, start_smsc: StartSmsc
) -> None:
    """An MO to a number added with `dlrhub accounts add-number` is that account's INBOUND; an
    MO to a number nobody registered is acknowledged (status 0) and becomes nothing."""
    smsc = start_smsc()
    env = smpp_env(db_url, tls, smsc.url())
    with Receiver(tls=tls) as receiver, ServerProcess(env, tmp_path / "logs") as server:
        key = create_account_with_cli(env, "smpp-mo")
        added = run_cli(
            "accounts", "add-number", key.account_id, "+447700900999", "--channel", "SMS", env=env
        )
        assert added.returncode == 0, (added.stdout, added.stderr)
        with client(server.base_url, key) as http:
            secret = register(http, receiver.url_for("/hook"))
        smsc.wait_for_blocking(lambda e: e["event"] == "bind" and e["ok"], timeout=15)

        smsc.send(
            {
                "cmd": "mo",
                "id": "mo-stray",
                "from": "447700900555",
                "to": "447700900998",
                "text": "nobody",
            }
        )
        smsc.send(
            {
                "cmd": "mo",
                "id": "mo-1",
                "from": "447700900555",
                "to": "447700900999",
                "text": "STOP please",
            }
        )
        for mo_id in ("mo-stray", "mo-1"):
            answer = smsc.wait_for_blocking(answer_to(mo_id), timeout=10)
            assert answer["status"] == 0, answer

        [request] = receiver.wait_for(1, timeout=20)
        verify(secret, request.headers, request.body)
        payload = request.json()
        assert set(payload) == INBOUND_KEYS
        assert ISO_Z.match(payload["timestamp"])
        assert payload == {
            "eventType": "INBOUND",
            "source": "+447700900555",
            "destination": "+447700900999",
            "text": "STOP please",
            "channel": "SMS",
            "messageType": "TEXT",
            "timestamp": payload["timestamp"],
        }
        # Both answered before this point: the stray one stored no event at all.
        stored = query(db_url, select(events.c.event_type, events.c.account_id))
        assert [(row.event_type, row.account_id) for row in stored] == [("INBOUND", key.account_id)]
        assert len(receiver.requests) == 1
        assert server.stop() == 0, server.log_text()
