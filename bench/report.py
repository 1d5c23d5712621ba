"""Turning measurements into the one table (stdout) and bench/results/latest.json."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

COLUMNS = (
    ("setup", "<"),
    ("scenario", "<"),
    ("deliv/s", ">"),
    ("vs", ">"),
    ("ratio", ">"),
    ("p50 ms", ">"),
    ("p95 ms", ">"),
    ("p99 ms", ">"),
    ("RSS MiB", ">"),
    ("CPU ms/dlv", ">"),
    ("target", "<"),
    ("met", "<"),
)


@dataclass
class Row:
    setup: str
    scenario: str
    rate: float | None = None
    reference: float | None = None
    reference_of: str = ""
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    rss: str = ""
    cpu: str = ""
    target: str = ""
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.rate is None or not self.reference:
            return None
        return self.rate / self.reference

    def cells(self) -> list[str]:
        ratio = "" if self.ratio is None else f"{self.ratio:.0%}"
        vs = "" if self.reference is None else f"{_num(self.reference)} {self.reference_of}"
        met = {None: "", True: "yes", False: "NO"}[self.met]
        return [
            self.setup,
            self.scenario,
            _num(self.rate),
            vs,
            ratio,
            _ms(self.p50),
            _ms(self.p95),
            _ms(self.p99),
            self.rss,
            self.cpu,
            self.target,
            met,
        ]


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"


fmt_num, fmt_ms = _num, _ms  # for the end-to-end table


class TableRow(Protocol):
    """What `render` needs of a row (the dispatch `Row`, the end-to-end `E2ERow`)."""

    setup: str
    notes: list[str]

    def cells(self) -> list[str]: ...


def render(
    rows: Sequence[TableRow],
    header: list[str],
    columns: tuple[tuple[str, str], ...] = COLUMNS,
) -> str:
    table = [[name for name, _ in columns], *(row.cells() for row in rows)]
    footnotes: list[str] = []
    for row, cells in zip(rows, table[1:], strict=True):
        for note in row.notes:
            footnotes.append(f"[{len(footnotes) + 1}] {row.setup}, {cells[1]}: {note}")
            cells[-1] += f" [{len(footnotes)}]"
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    rule = "-" * len(line(table[0], widths, columns))
    out = [*header, rule, line(table[0], widths, columns), rule]
    previous = None
    for row, cells in zip(rows, table[1:], strict=True):
        if previous is not None and row.setup != previous:
            out.append("")
        out.append(line(cells, widths, columns))
        previous = row.setup
    return "\n".join([*out, rule, *footnotes])


def line(
    cells: list[str], widths: list[int], columns: tuple[tuple[str, str], ...] = COLUMNS
) -> str:
    parts = [
        f"{cell:{align}{width}}"
        for cell, (_, align), width in zip(cells, columns, widths, strict=True)
    ]
    return "  ".join(parts).rstrip()


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": os.getloadavg(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", ":/src")),  # from the repo's root
    }


def _git(*args: str, cwd: Path | None = None) -> str:
    try:
        return subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=cwd or Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def source(path: Path | None) -> dict[str, Any]:
    """The dlrhub checkout the processes run (`--dlrhub-src`), or this tree's."""
    where = Path(__file__).resolve().parents[1] / "src" if path is None else path
    return {
        "src": str(path) if path is not None else "this tree",
        "commit": _git("rev-parse", "--short", "HEAD", cwd=where),
        "dirty": bool(_git("status", "--porcelain", "--", ".", cwd=where)),
    }


def write_json(
    path: Path,
    rows: list[Row],
    meta: dict[str, Any],
    endtoend: Sequence[Any] = (),
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **meta,
        "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
        "endtoend": [{**asdict(row), "ratio": row.ratio} for row in endtoend],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
