"""The ordering benchmark (issue 13 item 1) runs at its quick size through its real entry point
on each database (PostgreSQL with two workers): the DELIVERY + READ backlog is seeded as dlrhub
writes it, drained with the webhook's ordering 'message' and 'none', every delivery arrives,
and with 'message' no READ reaches the receiver before its DELIVERY. No timing is asserted:
the machine is shared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
BACKLOG = 2_000  # 1,000 messages x (DELIVERY, READ): smaller than --quick, to keep CI short
SETUP = {"sqlite": "SQLite x1", "postgresql": "PostgreSQL x2"}


@pytest.mark.e2e
def test_ordering_bench_keeps_each_message_in_order(db_url: str, tmp_path: Path) -> None:
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    output = tmp_path / "bench.json"
    argv = [sys.executable, str(BENCH / "dispatch.py"), "--quick", "--scenarios", "ordering"]
    argv += ["--backlog", str(BACKLOG)]
    argv += ["--backends", backend, "--output", str(output)]
    if backend == "postgresql":  # several workers claim concurrently: where order can break
        argv += ["--pg-workers", "2", "--pg-url", db_url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "dlrhub ordering benchmark (issue 13)" in done.stdout

    document = json.loads(output.read_text())
    assert document["rows"] == document["endtoend"] == document["whatsapp"] == []
    (row,) = document["ordering"]
    assert row["setup"] == SETUP[backend]
    assert row["backlog"] == BACKLOG
    assert row["ordered"] > 0
    assert row["unordered"] > 0
    assert row["cost"] == pytest.approx(1 - row["ordered"] / row["unordered"])
    for mode in ("message", "none"):
        details = row["details"][mode]
        assert details["ordering"] == mode
        assert details["arrived"] == BACKLOG
        assert details["messages"] == details["complete"] == BACKLOG // 2
        assert details["by_status"] == {"succeeded": BACKLOG}
    # The unordered run's count is only reported: it may come out in order by chance.
    assert row["out_of_order"]["message"] == 0
