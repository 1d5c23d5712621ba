"""The one logging set-up (structlog), called by entry points."""

from __future__ import annotations

import logging
import sys

import structlog

_SQL_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncpg")


def configure_logging(level: str = "info", *, json: bool = False) -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    # Alembic narrates every migration step at INFO; only its problems are worth showing.
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
    # The database layers log each statement with its parameters at INFO/DEBUG, and those
    # parameters include signing secrets and API key hashes: they stay quiet at every level.
    for name in _SQL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Says at debug level that debug is on: the one line an operator (or a test) can look for.
    structlog.get_logger(__name__).debug("logging configured", level=level, quiet=_SQL_LOGGERS)
