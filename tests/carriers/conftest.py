"""Fixtures for the carrier connectors' tests: the node-smpp test SMSC (tests/support/smsc.py)
and TLS material for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.smsc import StartSmsc, TestSmsc, require_node_smsc
from tests.support.tls import TestTLS, make_tls


@pytest.fixture
def start_smsc() -> Iterator[StartSmsc]:
    """`start_smsc(**env)` starts a test SMSC with server.js settings (IDS, RECEIPTS,
    RESP_DELAY_MS, …) and returns it listening; every one is stopped at teardown."""
    node = require_node_smsc()
    started: list[TestSmsc] = []

    def start(*, system_id: str = "dlrhub", **env: str | int) -> TestSmsc:
        smsc = TestSmsc(node, {k: str(v) for k, v in env.items()}, system_id=system_id)
        started.append(smsc)
        smsc.start()
        return smsc

    yield start
    for smsc in started:
        smsc.stop()


@pytest.fixture
def smsc(start_smsc: StartSmsc) -> TestSmsc:
    """A test SMSC with the defaults: hex ids, TLV receipts after 50 ms, immediate answers."""
    return start_smsc()


@pytest.fixture
def smsc_tls(tmp_path: Path) -> TestTLS:
    """A throw-away CA and a certificate for 127.0.0.1 signed by it (trustme)."""
    return make_tls(tmp_path / "smsc-tls")


@pytest.fixture
def tls_smsc(start_smsc: StartSmsc, smsc_tls: TestTLS) -> TestSmsc:
    """A test SMSC serving TLS with `smsc_tls`' certificate (bind with `smpps://`)."""
    return start_smsc(
        TLS_CERT=str(smsc_tls.server_cert_path), TLS_KEY=str(smsc_tls.server_key_path)
    )
