"""Summarise a `--profile` file (py-spy collapsed stacks): where the time went.

    python bench/profiles.py DIR/backlog0-sqlite-1-serve1.txt [--top 30] [--only dlrhub]

Prints the functions with the most samples, inclusive (the function and what it calls) and
self (the function's own code; time inside C code such as a SQLite call or uvloop's
poll counts as self time of the Python frame that called it). Samples come from every
thread: aiosqlite runs each SQLite connection in a thread of its own.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def load(path: Path, only: str | None) -> tuple[Counter[str], Counter[str], int]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if only is not None and not any(only in frame for frame in frames):
            continue
        samples = int(count)
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    return inclusive, own, total


def summary(path: Path, top: int = 30, only: str | None = None) -> str:
    inclusive, own, total = load(path, only)
    if not total:
        return f"{path}: no samples"
    lines = [f"{path}: {total} samples" + (f" in stacks through {only!r}" if only else "")]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"--- {title}")
        lines += [f"{n / total:6.1%}  {frame[:140]}" for frame, n in counter.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--only", help="keep only stacks with a frame containing this text")
    args = parser.parse_args()
    for path in args.files:
        print(summary(path, args.top, args.only))


if __name__ == "__main__":
    main()
