"""Accounts, API keys, signing secrets and WhatsApp business numbers."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.api_keys import RecentKeys, UsageMemo, canonical_key_id, check_key_name
from dlrhub.domain.clock import Clock
from dlrhub.domain.errors import Conflict, FieldError, InvalidInput, NotFound, Unauthorized
from dlrhub.domain.phone import require_e164
from dlrhub.domain.row_ids import new_id
from dlrhub.domain.signing import new_secret
from dlrhub.domain.status import Channel
from dlrhub.domain.tokens import token_digest
from dlrhub.store import accounts as store
from dlrhub.store.database import Database
from dlrhub.store.errors import Duplicate
from dlrhub.store.records import ApiKeyRecord

log = structlog.get_logger(__name__)

KEY_PREFIX = "dlr_"
# The name of the key an account is created with (keys made before names existed have "").
DEFAULT_KEY_NAME = "default"
ROTATION_OVERLAP = timedelta(hours=24)


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


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: its listing, and the key itself, which is never shown again."""

    record: ApiKeyRecord
    api_key: str


@dataclass(frozen=True)
class AuthenticatedKey:
    account_id: str
    key_id: str


_META_ID_MAX = 64


def _check_meta_id(meta_phone_number_id: str | None) -> str | None:
    """Meta's phone_number_id: digits (it is part of the Graph API path we call)."""
    if meta_phone_number_id is None:
        return None
    value = meta_phone_number_id.strip()
    if not (value.isascii() and value.isdigit() and 0 < len(value) <= _META_ID_MAX):
        raise InvalidInput(
            "a Meta phone_number_id is its digits (as shown in Meta's WhatsApp Manager)",
            errors=[FieldError("metaPhoneNumberId", f"must be 1 to {_META_ID_MAX} digits")],
        )
    return value


class AccountService:
    def __init__(
        self, db: Database, clock: Clock, *, key_cache: timedelta = timedelta(seconds=2)
    ) -> None:
        self._db = db
        self._clock = clock
        self._usage = UsageMemo()
        self._live_keys = RecentKeys[store.LiveKey](key_cache)

    async def create(self, name: str, *, key_name: str = DEFAULT_KEY_NAME) -> NewAccount:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("an account name is 1 to 200 characters")
        key_name = check_key_name(key_name)
        account_id = new_id()
        now = self._clock()
        try:
            async with self._db.transaction() as conn:
                await store.insert_account(conn, account_id, name, now)
                api_key = await self._insert_key(conn, account_id, key_name, now)
                await store.insert_signing_secret(
                    conn, new_id(), account_id, new_secret(os.urandom(24)), now
                )
        except Duplicate as exc:
            raise Conflict(f"an account named {name!r} already exists") from exc
        return NewAccount(account_id=account_id, name=name, api_key=api_key.api_key)

    async def account_id(self, id_or_name: str) -> str:
        """The id of the account with this id or name; NotFound if there is none."""
        found = await self.find(id_or_name)
        if found is None:
            raise NotFound(f"no account {id_or_name!r}")
        return found[0]

    async def create_key(self, account_id: str, name: str) -> NewApiKey:
        name = check_key_name(name)
        async with self._db.transaction() as conn:
            return await self._insert_key(conn, account_id, name, self._clock())

    async def replace_named_keys(
        self, account_id: str, name: str, *, also: tuple[str, ...] = ()
    ) -> NewApiKey:
        """A new key named `name`; every earlier unrevoked key of the account named `name` (or
        one of `also`) is revoked in the same transaction."""
        name = check_key_name(name)
        now = self._clock()
        async with self._db.transaction() as conn:
            await store.revoke_api_keys(conn, account_id, now, names=(name, *also))
            new_key = await self._insert_key(conn, account_id, name, now)
        self._live_keys.forget_all()  # after the commit: see RecentKeys
        return new_key

    async def list_keys(self, account_id: str) -> list[ApiKeyRecord]:
        async with self._db.reading() as conn:
            return await store.list_api_keys(conn, account_id)

    async def revoke_key(self, account_id: str, key_id: str) -> ApiKeyRecord:
        """Revoke one of the account's keys. Idempotent: a key revoked before stays revoked as
        of its first revocation. NotFound for an unknown key or another account's."""
        canonical = canonical_key_id(key_id)
        if canonical is None:
            raise NotFound(f"no API key {key_id!r}")
        async with self._db.transaction() as conn:
            await store.revoke_api_keys(conn, account_id, self._clock(), key_id=canonical)
            revoked = await store.api_key(conn, account_id, canonical)
        self._live_keys.forget_all()  # after the commit: see RecentKeys
        if revoked is None:
            raise NotFound(f"no API key {key_id!r}")
        log.info("API key revoked", account_id=account_id, key_id=canonical)
        return revoked

    async def _insert_key(
        self, conn: AsyncConnection, account_id: str, name: str, now: datetime
    ) -> NewApiKey:
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id, prefix = new_id(), api_key[:12]
        await store.insert_api_key(
            conn, key_id, account_id, prefix, token_digest(api_key), now, name
        )
        record = ApiKeyRecord(key_id, account_id, name, prefix, now, None, None)
        return NewApiKey(record=record, api_key=api_key)

    async def find(self, id_or_name: str) -> tuple[str, str] | None:
        async with self._db.reading() as conn:
            return await store.find_account(conn, id_or_name)

    async def authenticate(self, api_key: str | None) -> str:
        """The account id for an API key; `Unauthorized` for a missing, unknown or revoked one."""
        return (await self.authenticate_key(api_key)).account_id

    async def authenticate_key(self, api_key: str | None) -> AuthenticatedKey:
        """The account and key of an API key; `Unauthorized` for a missing, unknown or revoked
        one. A key found live is remembered for `key_cache` (at most 5 s): a revocation is
        refused at once by this process and within that time by every other. The key's last
        use is written at most once a minute."""
        if not api_key:
            raise Unauthorized("missing X-Api-Key header")
        digest, now = token_digest(api_key), self._clock()
        live = self._live_keys.get(digest, now)
        if live is None:
            epoch = self._live_keys.epoch
            async with self._db.reading() as conn:
                live = await store.live_key_for_hash(conn, digest)
            if live is None:
                raise Unauthorized("unknown or revoked API key")
            self._live_keys.put(digest, live, now, epoch=epoch)
        if self._usage.due(live.key_id, live.last_used_at, now):
            await self._record_use(live.key_id, now)
        return AuthenticatedKey(account_id=live.account_id, key_id=live.key_id)

    async def _record_use(self, key_id: str, now: datetime) -> None:
        try:
            async with self._db.transaction() as conn:
                await store.record_key_use(conn, key_id, now)
        except (SQLAlchemyError, OSError) as exc:
            # The key is valid: a lost lastUsedAt costs a minute of its precision (the memo
            # retries then), never the caller's request.
            log.warning("could not record an API key's use", key_id=key_id, error=str(exc))

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

    async def add_waba_number(
        self, id_or_name: str, number: str, meta_phone_number_id: str | None = None
    ) -> tuple[str, str]:
        """Register a WhatsApp business number; with its Meta `phone_number_id`, real messages
        leave from it through the WhatsApp Cloud API (SPEC §11.3). Registering a number the
        account already has again sets its Meta id."""
        require_e164(number, "number")
        meta_id = _check_meta_id(meta_phone_number_id)
        async with self._db.transaction() as conn:
            account_id = await self._account_id(conn, id_or_name)
            owner = await store.waba_owner(conn, number)
            if owner is not None and (owner != account_id or meta_id is None):
                raise Conflict(f"{number} is already registered to an account")
            if owner is None:
                await store.insert_waba_number(conn, account_id, number, self._clock())
            if meta_id is not None:
                await store.set_meta_phone_number_id(conn, number, meta_id)
        return account_id, number

    async def add_number(self, id_or_name: str, number: str, channel: Channel) -> tuple[str, str]:
        """Register a business number of an account for a channel: WhatsApp numbers send and
        receive for it; an SMS number receives its replies (SPEC §11.2); the RCS number is the
        RBM agent's, whose replies reach this account (SPEC §11.4: one agent per deployment)."""
        if channel is Channel.WHATSAPP:
            return await self.add_waba_number(id_or_name, number)
        require_e164(number, "number")
        async with self._db.transaction() as conn:
            account_id = await self._account_id(conn, id_or_name)
            taken = await store.reply_numbers_of(conn, channel)
            if any(existing == number for existing, _ in taken):
                raise Conflict(f"{number} is already registered to an account for {channel}")
            if channel is Channel.RCS and taken:
                raise Conflict(
                    f"the RBM agent's number is already registered ({taken[0][0]}): "
                    "dlrhub drives one agent (DLRHUB_RBM_AGENT_ID), so one RCS number"
                )
            await store.insert_reply_number(conn, channel, account_id, number, self._clock())
        return account_id, number

    async def _account_id(self, conn: AsyncConnection, id_or_name: str) -> str:
        found = await store.find_account(conn, id_or_name)
        if found is None:
            raise NotFound(f"no account {id_or_name!r}")
        return str(found[0])

    async def meta_phone_number_ids(self, numbers: list[str]) -> dict[str, str]:
        """Business number → its Meta phone_number_id, for those registered with one."""
        async with self._db.reading() as conn:
            return await store.meta_ids_of(conn, numbers)

    async def waba_numbers(self, account_id: str) -> list[tuple[str, datetime]]:
        async with self._db.reading() as conn:
            return await store.list_waba_numbers(conn, account_id)
