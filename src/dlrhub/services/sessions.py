"""Dashboard sessions held by the server (SPEC §14), and the limit on failed sign-ins.

The browser holds only a random 256-bit token; the database holds its SHA-256 with the account,
the API key that opened the session, the session's CSRF token and its expiry. A session is
valid while its row exists, has not expired and its key is not revoked, so signing out (the row
is deleted) and revoking the key both end it on every process at the next request.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from dlrhub.domain import sign_in
from dlrhub.domain.clock import Clock
from dlrhub.domain.tokens import token_digest
from dlrhub.services.accounts import AccountService
from dlrhub.store import sessions as store
from dlrhub.store.database import Database

log = structlog.get_logger(__name__)

LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class DashboardSession:
    token: str
    account_id: str
    key_id: str
    csrf_token: str
    expires_at: datetime


class DashboardSessions:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountService,
        lifetime: timedelta = LIFETIME,
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._clock = clock
        self._lifetime = lifetime

    async def open(self, api_key: str | None) -> DashboardSession:
        """A new session for the account of `api_key`; `Unauthorized` if the key is missing,
        unknown or revoked. Expired sessions of every account are swept on the way."""
        key = await self._accounts.authenticate_key(api_key)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        # A key revoked between these two steps is harmless: every lookup checks the key.
        async with self._db.transaction() as conn:
            row = store.SessionRow(
                account_id=key.account_id,
                key_id=key.key_id,
                csrf_token=secrets.token_urlsafe(32),
                expires_at=now + self._lifetime,
            )
            await store.insert_session(conn, token_digest(token), row, now)
            swept = await store.delete_expired(conn, now)
        if swept:
            log.info("expired dashboard sessions removed", count=swept)
        return DashboardSession(token, row.account_id, row.key_id, row.csrf_token, row.expires_at)

    async def find(self, token: str) -> DashboardSession | None:
        """The live session of this token: None if unknown, signed out, expired or its key
        revoked."""
        if not token:
            return None
        async with self._db.reading() as conn:
            row = await store.find_live_session(conn, token_digest(token), self._clock())
        if row is None:
            return None
        return DashboardSession(token, row.account_id, row.key_id, row.csrf_token, row.expires_at)

    async def close(self, token: str) -> None:
        """End the session (signing out): its token is worth nothing from now on."""
        async with self._db.transaction() as conn:
            await store.delete_session(conn, token_digest(token))


class SignInLimiter:
    """Counts failed sign-ins per client address (the rule is `domain.sign_in`).

    The counts live in this process only: with several `api` processes an address gets the
    limit at each of them, which still turns a key-guessing run from unbounded into a few per
    second at most, while keeping sign-in free of a write per failure to the shared database.
    """

    # Beyond this many addresses tracked, windows that have closed are dropped.
    _PRUNE_AT = 10_000

    def __init__(
        self, limit: int, monotonic: Callable[[], float] = time.monotonic, period_s: float = 60.0
    ) -> None:
        self._limit = limit
        self._monotonic = monotonic
        self._period_s = period_s
        self._windows: dict[str, sign_in.FailureWindow] = {}

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None if it may try now."""
        now = self._monotonic()
        return sign_in.retry_after(self._windows.get(address), now, self._limit, self._period_s)

    def failed(self, address: str) -> None:
        now = self._monotonic()
        self._windows[address] = sign_in.after_failure(
            self._windows.get(address), now, self._period_s
        )
        if len(self._windows) > self._PRUNE_AT:
            self._windows = {
                key: window
                for key, window in self._windows.items()
                if sign_in.is_open(window, now, self._period_s)
            }
