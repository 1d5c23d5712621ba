"""`make mutate`: mutation testing (mutmut) of the code that decides outcomes, against the fast
test tiers; prints the score and every surviving mutant. Not part of CI: it is slow.

    python tools/mutate.py            # src/dlrhub/domain/ against tests/domain (minutes)
    python tools/mutate.py services   # the deciding services against their SQLite tests (long)

Each scope runs in its own scratch directory (build/mutate/<scope>: links to src/ and tests/
and a pyproject.toml carrying that scope's [tool.mutmut]), so the tree's own files are never
touched and the two scopes never share mutmut's cache. Results stay there for `mutmut show`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")

SCOPES: dict[str, dict[str, list[str]]] = {
    "domain": {
        "only_mutate": ["src/dlrhub/domain/*"],
        "pytest_add_cli_args_test_selection": ["tests/domain"],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q"],
    },
    # The services that decide what happens to a report, a delivery, a key. Their tests need a
    # database: SQLite only here (the PostgreSQL half adds time, not mutants killed).
    "services": {
        "only_mutate": [
            "src/dlrhub/services/status_changes.py",
            "src/dlrhub/services/deliveries.py",
            "src/dlrhub/services/accounts.py",
        ],
        "pytest_add_cli_args_test_selection": [
            "tests/integration/test_carrier.py",
            "tests/integration/test_delivery_log.py",
            "tests/integration/test_dispatch_outcomes.py",
            "tests/integration/test_signing_rotation.py",
            "tests/integration/test_sending.py",
        ],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-k", "not postgresql"],
    },
}


def scratch(scope: str) -> Path:
    """The scope's directory: src and tests linked, pyproject.toml with its [tool.mutmut]."""
    work = ROOT / "build" / "mutate" / scope
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("src", "tests"):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", pyproject)
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in SCOPES[scope].items())
    (work / "pyproject.toml").write_text(
        f'{pyproject}\n[tool.mutmut]\nsource_paths = ["src"]\n{table}\n', encoding="utf-8"
    )
    return work


def main(scope: str) -> int:
    if scope not in SCOPES:
        print(f"unknown scope {scope!r}; one of {', '.join(SCOPES)}", file=sys.stderr)
        return 2
    work = scratch(scope)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # mutmut's exit status says nothing about survivors; the numbers below do.
    subprocess.run([MUTMUT, "run", "--max-children", "2"], cwd=work, env=env, check=False)
    subprocess.run([MUTMUT, "export-cicd-stats"], cwd=work, env=env, check=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    killed, total = stats["killed"] + stats["timeout"], stats["total"]
    score = 100 * killed / max(total, 1)
    print(f"\nsurviving mutants ({scope}):")
    subprocess.run([MUTMUT, "results"], cwd=work, env=env, check=False)
    print(
        f"\nmutation score ({scope}): {killed}/{total} killed ({score:.1f} %),"
        f" {stats['survived']} survived, {stats['no_tests']} not reached by the tests"
        f"\n(`cd {work.relative_to(ROOT)} && mutmut show NAME` shows one)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "domain"))
