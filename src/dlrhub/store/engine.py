"""Every difference between SQLite and PostgreSQL lives here, and nowhere else."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from sqlalchemy import CTE, Select, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from dlrhub.store.errors import Duplicate

log = structlog.get_logger(__name__)


# Execution option marking a connection that only reads (see `Database.reading`).
READ_ONLY = "dlrhub_read_only"


def is_sqlite_url(url: str) -> bool:
    return url.startswith("sqlite")


def notifies_other_processes(url: str) -> bool:
    """Whether processes sharing this database wake each other when they queue work
    (PostgreSQL NOTIFY); on SQLite they only find each other's work by polling."""
    return not is_sqlite_url(url)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine tuned for its backend.

    SQLite: WAL so readers never block the writer, a busy timeout so concurrent processes
    (the CLI beside a running server) wait instead of failing, and `BEGIN IMMEDIATE` so a
    transaction that will write takes the write lock up front instead of failing to upgrade.
    """
    # hide_parameters: a driver error's text would otherwise carry the statement's values
    # (signing secrets, key hashes) into logs and tracebacks.
    if is_sqlite_url(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _tune_sqlite(engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout, and the hot paths (claim, record)
    # already survive a failed statement by retrying on their next turn.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, hide_parameters=True
    )


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Readers take no lock at all under WAL; writers take the write lock up front.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def lock_for_claim(query: Select[Any], name: str) -> CTE:
    """The rows a claim takes, as a CTE for `UPDATE … WHERE id IN (SELECT id FROM name)`.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers claim disjoint rows, in a
    MATERIALIZED CTE: evaluated once, then joined on the primary key. Written as a plain
    `IN (subquery)`, the planner may hash-join it against a sequential scan of the whole
    table: a claim then costs the table's size, and under concurrent updates it was seen
    to return no rows at all while thousands were due (measured: 100,000-row backlog).
    SQLite: SQLAlchemy drops the locking clause silently; that is safe because every write
    transaction there starts with `BEGIN IMMEDIATE`, which serialises writers.
    """
    locked = query.with_for_update(skip_locked=True).cte(name)
    return locked.prefix_with("MATERIALIZED", dialect="postgresql")


def lock_rows(query: Select[Any]) -> Select[Any]:
    """Lock the rows a transaction reads and then rewrites.

    PostgreSQL: `FOR UPDATE`, taken in the query's order (callers order by id, so that two
    transactions locking overlapping rows cannot deadlock). SQLite: dropped by SQLAlchemy;
    `BEGIN IMMEDIATE` already gives the transaction the whole database.
    """
    return query.with_for_update()


def lock_skipping_locked(query: Select[Any]) -> Select[Any]:
    """Lock the rows a transaction is about to delete, passing over rows others hold.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two pruners (or a pruner and a request changing
    a row) never wait on each other: a locked row is left for the next run. SQLite: dropped
    by SQLAlchemy; `BEGIN IMMEDIATE` already gives the transaction the whole database.
    """
    return query.with_for_update(skip_locked=True)


# How each driver names a unique-key violation: PostgreSQL's SQLSTATE (asyncpg), SQLite's
# extended result codes (Python's sqlite3 since 3.11).
_PG_UNIQUE_VIOLATION = "23505"
_SQLITE_UNIQUE_VIOLATIONS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


def _is_unique_violation(exc: IntegrityError) -> bool:
    driver_error = exc.orig
    return (
        getattr(driver_error, "sqlstate", None) == _PG_UNIQUE_VIOLATION
        or getattr(driver_error, "sqlite_errorname", None) in _SQLITE_UNIQUE_VIOLATIONS
    )


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Turn the driver errors the services act on into store exceptions (see store/errors.py);
    every other error passes unchanged."""
    try:
        yield
    except IntegrityError as exc:
        if _is_unique_violation(exc):
            raise Duplicate("a row with the same unique key already exists") from exc
        raise


def writer_gate(engine: AsyncEngine) -> AbstractAsyncContextManager[Any]:
    """What a write transaction of this process holds while it runs.

    SQLite has one writer at a time. Queuing this process's writers on a lock is fair and
    immediate; left to SQLite, they would sleep and retry with backoff (busy_timeout, which
    remains for other processes such as the CLI). PostgreSQL: nothing, rows are locked.
    """
    if is_sqlite_url(str(engine.url)):
        return asyncio.Lock()
    return contextlib.nullcontext()


# Any fixed 64-bit number: processes migrating the same database take turns on it.
_MIGRATION_LOCK_KEY = 0x646C7268756221


def lock_for_migration(conn: Connection) -> None:
    """Serialise schema upgrades from processes starting at once (PostgreSQL: a transaction
    advisory lock; SQLite: BEGIN IMMEDIATE already serialises writers)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})"))


async def commit_without_waiting_for_disk(conn: AsyncConnection) -> None:
    """Let this transaction's commit return before its WAL record reaches the disk.

    Only for writes whose loss in a database crash is already allowed: a lost attempt record
    means the delivery is sent again once its lease runs out (at-least-once, the same
    `webhook-id`). Every other commit (a 201, a status change and its deliveries) waits for
    the disk. PostgreSQL: `synchronous_commit = off` for this transaction, which takes the
    fsync off the attempt records' path and off the other commits' queue. SQLite already runs
    with `synchronous=NORMAL` under WAL: nothing to do.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))


DELIVERIES_CHANNEL = "dlrhub_deliveries"
SIMULATION_CHANNEL = "dlrhub_simulation"
SUBMISSIONS_CHANNEL = "dlrhub_submissions"


async def notify(conn: AsyncConnection, channel: str) -> None:
    """Wake other processes once this transaction commits (PostgreSQL NOTIFY is
    transactional). SQLite has no cross-process signal: workers there poll."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"NOTIFY {channel}"))


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(
    engine: AsyncEngine,
    callbacks: dict[str, Callable[[], None]],
    stop: asyncio.Event,
    *,
    retry_s: float = 1.0,
) -> None:
    """LISTEN on PostgreSQL channels until `stop`, reconnecting after failures.

    Every (re)connect calls every callback once: notifications sent while we were not
    listening are lost, so the woken side re-checks the database instead. SQLite has no
    notifications (other processes on the file are found by polling): returns at once.
    """
    if is_sqlite_url(str(engine.url)):
        return
    import asyncpg

    dsn = asyncpg_dsn(engine.url.render_as_string(hide_password=False))
    while not stop.is_set():
        connection: Any = None
        try:
            connection = await asyncpg.connect(dsn)
            lost = asyncio.Event()
            connection.add_termination_listener(_ignore_args(lost.set))
            for channel, callback in callbacks.items():
                await connection.add_listener(channel, _ignore_args(callback))
                callback()
            stop_task = asyncio.ensure_future(stop.wait())
            lost_task = asyncio.ensure_future(lost.wait())
            await asyncio.wait({stop_task, lost_task}, return_when=asyncio.FIRST_COMPLETED)
            stop_task.cancel()
            lost_task.cancel()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("LISTEN connection failed; polling until it is back", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry_s)
        finally:
            if connection is not None and not connection.is_closed():
                await connection.close()


def _ignore_args(callback: Callable[[], None]) -> Callable[..., None]:
    def on_notify(*_args: object) -> None:
        callback()

    return on_notify
