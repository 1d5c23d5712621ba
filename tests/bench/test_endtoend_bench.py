"""The end-to-end benchmark (issue 10) runs at its quick size through its real entry point,
on each database, and every message it sends reaches the receiver: the table a release is
judged by cannot rot unnoticed (a broken send path, CLI, webhook setup or bench fails here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SETUPS = {
    "sqlite": ["SQLite serve"],
    "postgresql": ["PostgreSQL serve", "PostgreSQL api x2 + worker x2"],
}
# Smaller than --quick (a burst of 500, one steady rate for 1 s), to keep CI short.
SIZE = ["--burst", "500", "--send-rates", "500", "--send-duration", "1"]
MEASURES = ["burst 500 (32 conn)", "steady 500 sends/s"]
# SQLite also measures the send API alone (`dlrhub api`, no worker): one row, no webhooks.
API_ALONE = ("SQLite api alone", "sends 500 (32 conn)")


@pytest.mark.e2e
def test_quick_endtoend_bench_delivers_every_message(db_url: str, tmp_path: Path) -> None:
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    output = tmp_path / "bench.json"
    argv = [sys.executable, str(BENCH / "dispatch.py"), "--quick", "--scenarios", "endtoend"]
    argv += [*SIZE, "--backends", backend, "--output", str(output)]
    if backend == "postgresql":  # the session's private database: only for CREATE DATABASE
        argv += ["--pg-url", db_url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert "dlrhub end-to-end benchmark (--quick)" in done.stdout
    lines = done.stdout.splitlines()
    for setup in SETUPS[backend]:
        for measure in MEASURES:
            assert any(line.startswith(setup) and measure in line for line in lines), done.stdout

    rows = json.loads(output.read_text())["endtoend"]
    if backend == "sqlite":
        alone, *rows = rows
        assert (alone["setup"], alone["measure"]) == API_ALONE
        assert "error" not in alone["details"], alone["details"]
        assert alone["details"]["accepted"] == alone["details"]["sent"] > 0
        assert alone["sends"] > 0
    assert [(r["setup"], r["measure"]) for r in rows] == [
        (setup, measure) for setup in SETUPS[backend] for measure in MEASURES
    ]
    for row in rows:
        details = row["details"]
        assert "error" not in details, details
        assert row["lost"] == 0, (row["setup"], row["measure"], details)
        assert details["accepted"] == details["sent"] == details["arrived"] > 0, details
        assert row["sends"] > 0
        assert row["webhooks"] > 0
    bursts = rows[:: len(MEASURES)]
    assert all(r["ceiling"] > 0 and r["ratio"] > 0 for r in bursts)
    assert all(r["p50"] is not None and r["p99"] is not None for r in rows if r not in bursts)
    if backend == "postgresql":
        split = rows[len(MEASURES)]["details"]
        assert split["shape"] == "2 x dlrhub api + 2 x dlrhub worker"
