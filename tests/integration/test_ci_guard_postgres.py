"""The PostgreSQL half of every storage test cannot be skipped in CI: without a reachable
server it skips locally, but fails when DLRHUB_TEST_REQUIRE_SERVICES=1 (which .ci/run sets).
Both fixtures are covered: `db_url` (each storage test's PostgreSQL run) and `postgres_url`
(PostgreSQL-only tests)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One PostgreSQL run of a storage test, and one PostgreSQL-only test.
SELECTED = [
    "tests/integration/test_signing_rotation.py::"
    "test_rotated_out_secret_signs_for_24_hours_then_stops[postgresql]",
    "tests/scale/test_workers_postgres.py",
]


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port that refuses connections for as long as the test runs: bound by this process
    (so nobody else can take it) but never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def run_postgres_tests(port: int, *, require: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["DLRHUB_TEST_POSTGRES_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test"
    env["DLRHUB_TEST_REQUIRE_SERVICES"] = "1" if require else "0"
    return subprocess.run(
        [sys.executable, "-m", "pytest", *SELECTED, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("require", [False, True])
def test_unreachable_postgres_skips_locally_and_fails_in_ci(
    refused_port: int, require: bool
) -> None:
    done = run_postgres_tests(refused_port, require=require)
    output = done.stdout + done.stderr
    assert "passed" not in output, output
    if require:
        assert done.returncode != 0, output
        assert "forbids skipping" in output, output
        assert "skipped" not in output, output
    else:
        assert done.returncode == 0, output
        skipped = re.search(r"(\d+) skipped", output)
        assert skipped is not None, output
        assert int(skipped.group(1)) >= len(SELECTED), output
