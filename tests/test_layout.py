"""The test tree's layout rules (issue 9): shared helpers live in tests/support, in modules
short enough to read, and no test package reaches into another one (or into a conftest or
a test module) for helpers; fixtures come from conftest files, which pytest finds by itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUPPORT = "tests.support"
MAX_SUPPORT_LINES = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path) -> str:
    return _module_name(path.parent / "__init__.py")


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) of every `import` and `from ... import` in a file, at any depth
    (imports inside functions count); `from pkg import name` counts as `pkg.name`, since the
    name may be a module."""
    package = _package_of(path)
    found: list[tuple[int, str]] = []
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def import_problem(importer: Path, target: str) -> str | None:
    """Why `importer` must not import `target` (a dotted name), or None if it may."""
    if target != "tests" and not target.startswith("tests."):
        return None
    if target == SUPPORT or target.startswith(SUPPORT + "."):
        return None
    parts = target.split(".")
    if "conftest" in parts:
        return "imports a conftest (fixtures reach tests by name; helpers go to tests/support)"
    if any(part.startswith("test_") for part in parts):
        return "imports a test module (move what it shares to tests/support)"
    package = _package_of(importer)
    if package != "tests" and target.startswith(package + "."):
        return None
    return "imports another test package's code (shared helpers go to tests/support)"


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_test_module_imports_another_test_packages_code() -> None:
    problems = [
        f"{path.relative_to(TESTS.parent)}:{line}: {target}: {problem}"
        for path in python_files()
        for line, target in imported_modules(path)
        if (problem := import_problem(path, target)) is not None
    ]
    assert not problems, "\n".join(problems)


def test_support_modules_are_short() -> None:
    long = {
        str(path.relative_to(TESTS.parent)): lines
        for path in sorted((TESTS / "support").glob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_SUPPORT_LINES
    }
    assert not long, f"over {MAX_SUPPORT_LINES} lines: {long}"


def test_support_holds_no_tests() -> None:
    """Tests of the support code live in tests/support_tests, so tests/support stays helpers."""
    assert not sorted((TESTS / "support").glob("test_*.py"))


@pytest.mark.parametrize(
    ("importer", "target", "allowed"),
    [
        ("e2e/test_x.py", "tests.support.cli.run_cli", True),
        ("e2e/test_x.py", "tests.integration.helpers.stack", False),
        ("e2e/test_x.py", "tests.conftest.AccountKey", False),
        ("integration/test_x.py", "tests.integration.test_y.sign_in", False),
        ("integration/test_x.py", "tests.integration.conftest.key", False),
        ("integration/test_x.py", "tests.integration.shared.thing", True),
        ("test_x.py", "tests.domain.helpers.thing", False),
        ("support/x.py", "tests.support.receiver.Receiver", True),
        ("support/x.py", "tests.integration.helpers.stack", False),
        ("integration/test_x.py", "dlrhub.config.Settings", True),
    ],
)
def test_the_import_rule(importer: str, target: str, allowed: bool) -> None:
    assert (import_problem(TESTS / importer, target) is None) == allowed


def test_relative_imports_are_resolved() -> None:
    module = TESTS / "support" / "example.py"  # only its place matters: it is never read
    source = "from .net import free_port\nfrom ..integration import helpers\n"
    assert imported_modules(module, source) == [
        (1, "tests.support.net.free_port"),
        (2, "tests.integration.helpers"),
    ]
