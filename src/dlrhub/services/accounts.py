"""Accounts, API keys, signing secrets and WhatsApp business numbers."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from dlrhub.domain.ids import new_id
from dlrhub.domain.phone import require_e164
from dlrhub.domain.signing import new_secret
from dlrhub.services.signals import Clock
from dlrhub.store import accounts as store
from dlrhub.store.database import Database
from dlrhub.store.engine import is_unique_violation

KEY_PREFIX = "dlr_"
ROTATION_OVERLAP = timedelta(hours=24)


def hash_key(api_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast unsalted hash is enough to make a leaked
    # table useless; a slow KDF would only slow down every authenticated request.
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    name: str
    api_key: str


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    created_at: datetime
    previous_expires_at: datetime | None


class AccountService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(self, name: str) -> NewAccount:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("an account name is 1 to 200 characters")
        account_id = new_id()
        now = self._clock()
        try:
            async with self._db.transaction() as conn:
                await store.insert_account(conn, account_id, name, now)
                api_key = await self._insert_key(conn, account_id, now)
                await store.insert_signing_secret(
                    conn, new_id(), account_id, new_secret(os.urandom(24)), now
                )
        except Exception as exc:
            if is_unique_violation(exc):
                raise Conflict(f"an account named {name!r} already exists") from exc
            raise
        return NewAccount(account_id=account_id, name=name, api_key=api_key)

    async def new_key(self, id_or_name: str) -> str:
        async with self._db.transaction() as conn:
            found = await store.find_account(conn, id_or_name)
            if found is None:
                raise NotFound(f"no account {id_or_name!r}")
            return await self._insert_key(conn, found[0], self._clock())

    async def _insert_key(self, conn: AsyncConnection, account_id: str, now: datetime) -> str:
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        await store.insert_api_key(conn, new_id(), account_id, api_key[:12], hash_key(api_key), now)
        return api_key

    async def find(self, id_or_name: str) -> tuple[str, str] | None:
        async with self._db.reading() as conn:
            return await store.find_account(conn, id_or_name)

    async def authenticate(self, api_key: str | None) -> str:
        """The account id for an API key; `Unauthorized` for a missing, unknown or revoked one."""
        if not api_key:
            raise Unauthorized("missing X-Api-Key header")
        async with self._db.reading() as conn:
            account_id = await store.account_for_key_hash(conn, hash_key(api_key))
        if account_id is None:
            raise Unauthorized("unknown or revoked API key")
        return account_id

    async def signing_secret(self, account_id: str) -> SigningSecret:
        async with self._db.reading() as conn:
            live = (await store.live_secrets(conn, [account_id], self._clock())).get(account_id)
        if not live:
            raise NotFound("this account has no signing secret")
        secret, created_at, _ = live[0]
        previous = live[1][2] if len(live) > 1 else None
        return SigningSecret(secret=secret, created_at=created_at, previous_expires_at=previous)

    async def rotate_signing_secret(self, account_id: str) -> SigningSecret:
        """A new secret signs from now on; the old one keeps signing for the overlap window."""
        now = self._clock()
        async with self._db.transaction() as conn:
            await store.retire_current_secret(conn, account_id, now + ROTATION_OVERLAP)
            await store.insert_signing_secret(
                conn, new_id(), account_id, new_secret(os.urandom(24)), now
            )
        return await self.signing_secret(account_id)

    async def add_waba_number(self, id_or_name: str, number: str) -> tuple[str, str]:
        require_e164(number, "number")
        async with self._db.transaction() as conn:
            found = await store.find_account(conn, id_or_name)
            if found is None:
                raise NotFound(f"no account {id_or_name!r}")
            owner = await store.waba_owner(conn, number)
            if owner is not None:
                raise Conflict(f"{number} is already registered to an account")
            await store.insert_waba_number(conn, found[0], number, self._clock())
        return found[0], number

    async def waba_numbers(self, account_id: str) -> list[tuple[str, datetime]]:
        async with self._db.reading() as conn:
            return await store.list_waba_numbers(conn, account_id)
