"""dlrhub: delivery notifications for business messaging."""

from __future__ import annotations

__version__ = "0.1.0"
