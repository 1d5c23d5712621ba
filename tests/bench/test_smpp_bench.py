"""The SMPP benchmark (issue 11) runs at its quick size through its real entry point, on each
database, against the node test SMSC: every real SMS it sends is submitted, its receipt
applied and its webhook received, and the table has its rows with a same-run ceiling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.smsc import require_node_smsc

BENCH = Path(__file__).resolve().parents[2] / "bench"
SETUP = {"sqlite": "SQLite serve", "postgresql": "PostgreSQL serve"}
BINDS = ["sessions=1 window=10 rate=10000", "sessions=2 window=10 rate=10000"]
BURST = 200  # smaller than --quick's 500, to keep CI short
SENT = BURST + 1 * 100  # the burst, then 100 sends/s for 1 s
WARMUP = 20


@pytest.mark.e2e
def test_quick_smpp_bench_delivers_every_real_sms(db_url: str, tmp_path: Path) -> None:
    require_node_smsc()
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    output = tmp_path / "bench.json"
    argv = [sys.executable, str(BENCH / "dispatch.py"), "--quick", "--scenarios", "smpp"]
    argv += ["--smpp-burst", str(BURST), "--send-duration", "1"]
    argv += ["--backends", backend, "--output", str(output)]
    if backend == "postgresql":  # the session's private database: only for CREATE DATABASE
        argv += ["--pg-url", db_url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert "dlrhub SMPP benchmark (--quick)" in done.stdout
    assert "RESP_DELAY_MS=5 ms" in done.stdout  # the answer delay that makes the window matter
    lines = done.stdout.splitlines()
    for bind in BINDS:
        assert any(line.startswith(SETUP[backend]) and bind in line for line in lines)

    document = json.loads(output.read_text())
    assert document["rows"] == document["endtoend"] == []  # only the scenario asked for
    rows = document["smpp"]
    assert [(r["setup"], r["bind"]) for r in rows] == [(SETUP[backend], b) for b in BINDS]
    for row in rows:
        details = row["details"]
        assert "error" not in details, details
        assert row["met"] is True, (row["notes"], details.get("statuses"))
        assert row["lost"] == 0
        assert row["sent"] == SENT
        assert details["statuses"] == {"DELIVERED": SENT + WARMUP}
        assert all(row[column] > 0 for column in ("submits", "receipts", "ceiling", "ratio"))
        assert 1 <= row["in_flight"] <= 10  # never more than the window on one session
        assert row["p50"] is not None
        assert row["p50"] <= row["p99"]
        burst = details["phases"][1]
        assert burst["smsc_submits"] == burst["accepted"] == BURST
        assert burst["receipts_acknowledged"] == BURST
        assert details["ceiling"]["accepted"] == BURST
