"""`make bench` must work from a fresh install of the dev extras: every benchmark module
imports, and the pure parts of the report behave."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(
    "script",
    [
        "dispatch.py",
        "ceiling.py",
        "receiver.py",
        "profiles.py",
        "loadgen.py",
        "ingest.py",
        "ordering.py",
    ],
)
def test_bench_script_starts(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
