"""The clock every part reads, passed in: rules and services never call `datetime.now`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]
