"""Real SMS through failures, with the real CLI (issue 11; SPEC §11, §11.2): the SMSC killed and
started again mid-traffic, `dlrhub serve` SIGKILLed mid-submission, and two `dlrhub worker`
processes sharing one `sessions=1` bind on PostgreSQL. Nothing accepted is lost; a message is
submitted twice only if it was in flight at the crash (at most a window of them).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dlrhub.store.schema import carrier_sessions
from tests.support.cli import ServerProcess, create_account_with_cli
from tests.support.probes import query
from tests.support.receiver import Receiver
from tests.support.smpp_e2e import (
    client,
    deliveries_by_message,
    poll,
    register,
    send_real,
    smpp_env,
)
from tests.support.smsc import Event, StartSmsc, TestSmsc, require_node_smsc
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

WINDOW = 5


@pytest.fixture
def start_smsc() -> Iterator[StartSmsc]:
    """`start_smsc(port=0, **server_js_env)`: a listening test SMSC, stopped at teardown."""
    node = require_node_smsc()
    started: list[TestSmsc] = []

    def start(port: int = 0, **env: str | int) -> TestSmsc:
        smsc = TestSmsc(node, {k: str(v) for k, v in env.items()})
        smsc.port = port  # a given port: the same SMSC address after a crash
        started.append(smsc)
        smsc.start()
        return smsc

    yield start
    for smsc in started:
        smsc.stop()


@pytest.fixture
def tls(tmp_path: Path) -> TestTLS:
    return make_tls(tmp_path / "tls")


def _destinations(count: int) -> dict[str, str]:
    """customer id -> a destination the SMSC delivers (last two digits 10 and up)."""
    return {f"m-{i}": f"+4477009{i + 10:05d}" for i in range(count)}


def _accepted(smsc: TestSmsc) -> list[Event]:
    return [e for e in smsc.events("submit") if e["status"] == 0]


def _statuses(http: httpx.Client, ids: list[str]) -> dict[str, str]:
    response = http.get("/api/partner-gateway/v1/messages/status", params={"ids": ",".join(ids)})
    assert response.status_code == 200, response.text
    batch: dict[str, Any] = response.json()
    assert batch["notFound"] == []
    return {m["customerMessageId"]: m["status"] for m in batch["messages"]}


def _wait_all_delivered(http: httpx.Client, ids: list[str], timeout: float = 30) -> None:
    def probe() -> dict[str, str] | None:
        statuses = _statuses(http, ids)
        return statuses if set(statuses.values()) == {"DELIVERED"} else None

    try:
        asyncio.run(wait_until(probe, what="every message DELIVERED", timeout=timeout))
    except AssertionError:
        left = {k: v for k, v in _statuses(http, ids).items() if v != "DELIVERED"}
        raise AssertionError(f"not DELIVERED: {left}") from None


def _check_submitted_once_but_in_flight(
    submits: list[Event], destinations: dict[str, str]
) -> Counter[str]:
    """Every destination was accepted; returns those accepted twice, checked against WINDOW."""
    counts = Counter(e["destination"] for e in submits)
    assert set(counts) == {d.lstrip("+") for d in destinations.values()}
    twice = Counter({d: n - 1 for d, n in counts.items() if n > 1})
    assert max(counts.values()) <= 2, counts
    assert sum(twice.values()) <= WINDOW, twice
    return twice


def test_smsc_killed_and_restarted_mid_traffic_loses_nothing(
    db_url: str, tmp_path: Path, tls: TestTLS, start_smsc: StartSmsc
) -> None:
    """30 messages; the SMSC dies after some submits and comes back on the same port. The
    session binds again and every message ends DELIVERED, signed webhook and all.

    The restarted SMSC gives decimal ids (the first gave hex): a real SMSC never reuses an id,
    and the test SMSC's counter starts over. A real SMSC also keeps its receipts across a
    restart; the test SMSC loses them, so the test sends, from the second one, the receipts the
    first had not delivered (for ids dlrhub recorded)."""
    first = start_smsc(RESP_DELAY_MS=100, RECEIPT_DELAY_MS=150)
    env = smpp_env(db_url, tls, first.url(window=WINDOW))
    sends = _destinations(30)
    with Receiver(tls=tls) as receiver, ServerProcess(env, tmp_path / "logs") as server:
        key = create_account_with_cli(env, "smsc-crash")
        with client(server.base_url, key) as http:
            secret = register(http, receiver.url_for("/hook"))
            first.wait_for_blocking(lambda e: e["event"] == "bind" and e["ok"], timeout=15)
            sent = {cid: send_real(http, dest, cid) for cid, dest in sends.items()}
            first.wait_for_blocking(lambda e: e["event"] == "submit", timeout=15, skip=7)
            first.kill()
            before = _accepted(first)
            assert len(before) < len(sends), "the kill came after the traffic"
            second = start_smsc(port=first.port, IDS="dec", RESP_DELAY_MS=100)
            second.wait_for_blocking(lambda e: e["event"] == "bind" and e["ok"], timeout=15)
            _receipts_the_first_lost(first, second)
            _wait_all_delivered(http, list(sends))
            payloads = deliveries_by_message(receiver.wait_for(len(sends), timeout=20), secret)
            assert set(payloads) == {s["messageId"] for s in sent.values()}
            assert {p["statusCode"] for p in payloads.values()} == {3}
        assert _accepted(second), "nothing was left for the second SMSC"
        _check_submitted_once_but_in_flight(before + _accepted(second), sends)
        assert server.stop() == 0, server.log_text()
    assert "Traceback" not in server.log_text(), server.log_text()


def _receipts_the_first_lost(first: TestSmsc, second: TestSmsc) -> None:
    """DELIVRD receipts, from `second`, for what `first` accepted and answered but whose
    receipt it never had acknowledged (an answer it never sent, dlrhub never recorded)."""
    answered = {e["message_id"] for e in first.events("submit_sm_resp") if e["status"] == 0}
    acknowledged = {
        e["id"]
        for e in first.events("deliver_sm_resp")
        if e["kind"] == "receipt" and not e["status"]
    }
    for message_id in sorted(answered - acknowledged):
        second.send({"cmd": "receipt", "id": message_id, "state": 2})


def test_sigkill_of_serve_mid_submission_submits_every_accepted_message(
    db_url: str, tmp_path: Path, tls: TestTLS, start_smsc: StartSmsc
) -> None:
    """Answers take 400 ms, so submissions are in flight when `serve` is SIGKILLed. A new
    `serve` on the same database takes over their lapsed leases (2 s): every accepted message
    is submitted and DELIVERED, and only the ones in flight at the kill may be submitted twice.
    Receipts the SMSC could not deliver to the dead session come at the next bind."""
    smsc = start_smsc(RESP_DELAY_MS=400)
    env = smpp_env(db_url, tls, smsc.url(window=WINDOW))
    sends = _destinations(12)
    logs = tmp_path / "logs"
    first = ServerProcess(env, logs, log_name="first.log").start()
    try:
        key = create_account_with_cli(env, "serve-crash")
        with client(first.base_url, key) as http:
            smsc.wait_for_blocking(lambda e: e["event"] == "bind" and e["ok"], timeout=15)
            for cid, dest in sends.items():
                send_real(http, dest, cid)
        smsc.wait_for_blocking(lambda e: e["event"] == "submit", timeout=15, skip=2)
    finally:
        assert first.kill() == -signal.SIGKILL
    at_kill = _accepted(smsc)
    answered = {e["sequence_number"] for e in smsc.events("submit_sm_resp")}
    in_flight = [e for e in at_kill if e["sequence_number"] not in answered]
    assert in_flight, "the kill came after every answer"
    assert len(at_kill) < len(sends), "the kill came after the traffic"

    with ServerProcess(env, logs, log_name="second.log") as second:
        with client(second.base_url, key) as http:
            _wait_all_delivered(http, list(sends))
        twice = _check_submitted_once_but_in_flight(_accepted(smsc), sends)
        assert set(twice) <= {e["destination"] for e in at_kill}, (twice, at_kill)
        assert second.stop() == 0, second.log_text()
    assert "Traceback" not in second.log_text(), second.log_text()


def _concurrent_sessions(smsc: TestSmsc) -> int:
    """The most sessions the SMSC had bound at once, from its bind and close events."""
    bound = most = 0
    for event in smsc.events():
        if event["event"] == "bind" and event["ok"]:
            bound += 1
            most = max(most, bound)
        elif event["event"] == "close" and event["system_id"]:
            bound -= 1
    return most


def _bound_holders(database: str) -> list[str]:
    """The workers whose slot rows say they hold a bound session."""
    rows = query(database, select(carrier_sessions.c.holder, carrier_sessions.c.state))
    return [str(row.holder) for row in rows if row.holder and row.state == "bound"]


def test_two_workers_share_one_session_and_take_over(
    postgres_url: str, tmp_path: Path, tls: TestTLS, start_smsc: StartSmsc
) -> None:
    """`sessions=1` across `dlrhub api` and two `dlrhub worker`s: the SMSC never sees two bound
    sessions; SIGKILL of the holder, and the other binds within the slot's lease (2 s)."""
    smsc = start_smsc()
    env = smpp_env(postgres_url, tls, smsc.url(sessions=1))
    logs = tmp_path / "logs"
    api = ServerProcess(env, logs, args=("api", "--dev"), log_name="api.log").start()
    workers: dict[str, ServerProcess] = {}
    try:
        for name in ("w0", "w1"):
            process = ServerProcess(env, logs, args=("worker", "--dev"), log_name=f"{name}.log")
            process.start()
            workers[f"{socket.gethostname()}:{process.pid}"] = process
        key = create_account_with_cli(env, "two-workers")
        with client(api.base_url, key) as http:
            for i in range(5):
                send_real(http, f"+4477009000{i + 10}", f"before-{i}")
            _wait_all_delivered(http, [f"before-{i}" for i in range(5)])
            time.sleep(1.5)  # both workers recheck the slot meanwhile (every lease/3)
            assert _concurrent_sessions(smsc) == 1
            [holder_id] = _bound_holders(postgres_url)
            victim = workers.pop(holder_id)
            assert victim.kill() == -signal.SIGKILL
            killed_at = time.monotonic()
            smsc.wait_for_blocking(lambda e: e["event"] == "bind" and e["ok"], timeout=15, skip=1)
            took_over_s = time.monotonic() - killed_at
            [(survivor_id, survivor)] = workers.items()
            asyncio.run(
                wait_until(
                    lambda: _bound_holders(postgres_url) == [survivor_id],
                    what=f"{survivor_id} alone recorded as the holder",
                )
            )
            send_real(http, "+447700900050", "after-kill")
            _wait_all_delivered(http, ["after-kill"], timeout=15)
            assert poll(http, "after-kill")["statusCode"] == 3
        assert took_over_s <= 2 + 3, took_over_s  # the lease, its recheck, a reconnect
        assert _concurrent_sessions(smsc) == 1
        assert len([e for e in smsc.events("bind") if e["ok"]]) == 2
        assert "smpp session bound" in survivor.log_text()
        assert survivor.stop() == 0, survivor.log_text()
    finally:
        for process in (*workers.values(), api):
            process.stop()
