"""The collector settings of long-running processes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from dlrhub.heap import YOUNG_THRESHOLD, settle_after_startup


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_settle_freezes_what_startup_built_and_collects_young_objects_less_often() -> None:
    built_at_startup = [object() for _ in range(1000)]
    _, middle, old = gc.get_threshold()
    settle_after_startup()
    assert gc.get_freeze_count() >= len(built_at_startup)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    # Objects made later are collected as usual.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
