"""The WhatsApp ingest benchmark (issue 12) runs at its quick size through its real entry point,
on each database, against the WhatsApp stand-in: every message it sends for real has its wamid
stored, every `delivered` status it posts (1 and 100 a notification) is answered applied and
makes one DELIVERY webhook, and the table has both rows with a same-run ceiling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.whatsapp_standin import require_whatsapp_standin

BENCH = Path(__file__).resolve().parents[2] / "bench"
SETUP = {"sqlite": "SQLite serve", "postgresql": "PostgreSQL serve"}
BATCHES = ["1 status/notification", "100 statuses/notification"]
STATUSES = 500 + 100 * 2  # per batch size: the quick burst, then 100 statuses/s for 2 s
SEEDED = 20 + 2 * STATUSES  # the warm-up's, then both batch sizes'


@pytest.mark.e2e
def test_quick_whatsapp_ingest_bench_applies_every_status(db_url: str, tmp_path: Path) -> None:
    require_whatsapp_standin()
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    output = tmp_path / "bench.json"
    argv = [sys.executable, str(BENCH / "dispatch.py"), "--quick", "--scenarios", "whatsapp"]
    argv += ["--backends", backend, "--output", str(output)]
    if backend == "postgresql":  # the session's private database: only for CREATE DATABASE
        argv += ["--pg-url", db_url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert "dlrhub WhatsApp ingest benchmark (--quick)" in done.stdout
    lines = done.stdout.splitlines()
    for batch in BATCHES:
        assert any(line.startswith(SETUP[backend]) and batch in line for line in lines)

    document = json.loads(output.read_text())
    assert document["rows"] == document["endtoend"] == document["smpp"] == []
    rows = document["whatsapp"]
    assert [(r["setup"], r["batch"]) for r in rows] == [(SETUP[backend], b) for b in BATCHES]
    for row, size in zip(rows, (1, 100), strict=True):
        details = row["details"]
        assert "error" not in details, details
        assert row["met"] is True, (row["notes"], details.get("statuses"))
        assert row["lost"] == 0
        assert row["statuses"] == STATUSES
        assert details["seeded"] == SEEDED
        assert details["statuses"] == {"DELIVERED": SEEDED}
        assert details["webhooks_before"] == 0  # only the posted statuses made webhooks
        assert all(row[c] > 0 for c in ("notifications", "applied", "ceiling", "ratio"))
        assert row["p50"] is not None
        assert row["p50"] <= row["p99"]
        phases = details["batches"][str(size)]
        assert phases["burst"]["notifications_ok"] == 500 // size
        assert phases["burst"]["answered"] == {"applied": 500}
        assert phases["steady"]["answered"] == {"applied": 200}
        assert details["ceiling"]["answered"] == {"applied": 500}
