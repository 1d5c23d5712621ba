"""The browser tests cannot be skipped in CI: without Chromium they skip locally, but fail
when DLRHUB_TEST_REQUIRE_SERVICES=1 (which .ci/run sets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_browser_test(tmp_path: Path, *, require: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["DLRHUB_TEST_CHROMIUM"] = str(tmp_path / "no-such-chromium")
    env["DLRHUB_TEST_REQUIRE_SERVICES"] = "1" if require else "0"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/browser/test_sign_in.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("require", [False, True])
def test_missing_chromium_skips_locally_and_fails_in_ci(tmp_path: Path, require: bool) -> None:
    done = run_browser_test(tmp_path, require=require)
    output = done.stdout + done.stderr
    if require:
        assert done.returncode != 0, output
        assert "forbids skipping" in output
    else:
        assert done.returncode == 0, output
        assert "1 skipped" in output
