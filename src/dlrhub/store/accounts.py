"""Queries on accounts, API keys, signing secrets and WhatsApp business numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.status import Channel
from dlrhub.store.records import ApiKeyRecord
from dlrhub.store.schema import (
    accounts,
    api_keys,
    reply_numbers,
    signing_secrets,
    waba_numbers,
)


async def insert_account(conn: AsyncConnection, account_id: str, name: str, now: datetime) -> None:
    await conn.execute(accounts.insert().values(id=account_id, name=name, created_at=now))


async def find_account(conn: AsyncConnection, id_or_name: str) -> tuple[str, str] | None:
    """(id, name) of the account with this id or this name."""
    row = (
        await conn.execute(
            select(accounts.c.id, accounts.c.name).where(
                or_(accounts.c.id == id_or_name, accounts.c.name == id_or_name)
            )
        )
    ).first()
    return None if row is None else (row.id, row.name)


@dataclass(frozen=True)
class LiveKey:
    """What authenticating a key reads: whose it is, and when it was last used."""

    key_id: str
    account_id: str
    last_used_at: datetime | None


_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.account_id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)


def _key_record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def insert_api_key(
    conn: AsyncConnection,
    key_id: str,
    account_id: str,
    prefix: str,
    key_hash: str,
    now: datetime,
    name: str,
) -> None:
    await conn.execute(
        api_keys.insert().values(
            id=key_id,
            account_id=account_id,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            created_at=now,
        )
    )


async def live_key_for_hash(conn: AsyncConnection, key_hash: str) -> LiveKey | None:
    """The unrevoked key with this hash, if any."""
    row = (
        await conn.execute(
            select(api_keys.c.id, api_keys.c.account_id, api_keys.c.last_used_at).where(
                api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return LiveKey(key_id=row.id, account_id=row.account_id, last_used_at=row.last_used_at)


async def record_key_use(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


async def list_api_keys(conn: AsyncConnection, account_id: str) -> list[ApiKeyRecord]:
    """The account's keys, revoked ones too, oldest first."""
    rows = await conn.execute(
        select(*_KEY_COLUMNS)
        .where(api_keys.c.account_id == account_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    return [_key_record(row) for row in rows]


async def api_key(conn: AsyncConnection, account_id: str, key_id: str) -> ApiKeyRecord | None:
    """One of the account's keys (None for another account's key, as for an unknown one)."""
    row = (
        await conn.execute(
            select(*_KEY_COLUMNS).where(
                api_keys.c.id == key_id, api_keys.c.account_id == account_id
            )
        )
    ).first()
    return None if row is None else _key_record(row)


async def revoke_api_keys(
    conn: AsyncConnection,
    account_id: str,
    now: datetime,
    *,
    key_id: str | None = None,
    names: tuple[str, ...] = (),
) -> int:
    """Revoke the account's unrevoked key `key_id`, or those named one of `names`; a key
    revoked before keeps its first revocation time. Returns how many were revoked now."""
    condition = api_keys.c.id == key_id if key_id is not None else api_keys.c.name.in_(names)
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.account_id == account_id, api_keys.c.revoked_at.is_(None), condition)
        .values(revoked_at=now)
    )
    return int(result.rowcount)


async def insert_signing_secret(
    conn: AsyncConnection, secret_id: str, account_id: str, secret: str, now: datetime
) -> None:
    await conn.execute(
        signing_secrets.insert().values(
            id=secret_id, account_id=account_id, secret=secret, created_at=now
        )
    )


async def live_secrets(
    conn: AsyncConnection, account_ids: list[str], now: datetime
) -> dict[str, list[tuple[str, datetime, datetime | None]]]:
    """Per account, each live secret: (secret, created_at, expires_at), newest first."""
    rows = await conn.execute(
        select(
            signing_secrets.c.account_id,
            signing_secrets.c.secret,
            signing_secrets.c.created_at,
            signing_secrets.c.expires_at,
        )
        .where(
            signing_secrets.c.account_id.in_(account_ids),
            or_(signing_secrets.c.expires_at.is_(None), signing_secrets.c.expires_at > now),
        )
        .order_by(signing_secrets.c.created_at.desc())
    )
    result: dict[str, list[tuple[str, datetime, datetime | None]]] = {}
    for row in rows:
        result.setdefault(row.account_id, []).append((row.secret, row.created_at, row.expires_at))
    return result


async def retire_current_secret(
    conn: AsyncConnection, account_id: str, expires_at: datetime
) -> None:
    await conn.execute(
        update(signing_secrets)
        .where(signing_secrets.c.account_id == account_id, signing_secrets.c.expires_at.is_(None))
        .values(expires_at=expires_at)
    )


async def insert_waba_number(
    conn: AsyncConnection, account_id: str, number: str, now: datetime
) -> None:
    await conn.execute(
        waba_numbers.insert().values(number=number, account_id=account_id, created_at=now)
    )


async def waba_owner(conn: AsyncConnection, number: str) -> str | None:
    return (
        await conn.execute(select(waba_numbers.c.account_id).where(waba_numbers.c.number == number))
    ).scalar_one_or_none()


async def waba_owners(conn: AsyncConnection, numbers: Sequence[str]) -> dict[str, str]:
    """The owning account of each of these business numbers that is registered."""
    if not numbers:
        return {}
    rows = await conn.execute(
        select(waba_numbers.c.number, waba_numbers.c.account_id).where(
            waba_numbers.c.number.in_(sorted(set(numbers)))
        )
    )
    return {row.number: row.account_id for row in rows}


async def list_waba_numbers(conn: AsyncConnection, account_id: str) -> list[tuple[str, datetime]]:
    rows = await conn.execute(
        select(waba_numbers.c.number, waba_numbers.c.created_at)
        .where(waba_numbers.c.account_id == account_id)
        .order_by(waba_numbers.c.number)
    )
    return [(row.number, row.created_at) for row in rows]


async def insert_reply_number(
    conn: AsyncConnection, channel: Channel, account_id: str, number: str, now: datetime
) -> None:
    """A number whose replies (MO) on `channel` belong to `account_id` (SPEC §11.2, §11.4)."""
    await conn.execute(
        reply_numbers.insert().values(
            channel=channel.value, number=number, account_id=account_id, created_at=now
        )
    )


async def reply_owner(conn: AsyncConnection, channel: Channel, number: str) -> str | None:
    return (
        await conn.execute(
            select(reply_numbers.c.account_id).where(
                reply_numbers.c.channel == channel.value, reply_numbers.c.number == number
            )
        )
    ).scalar_one_or_none()


async def reply_numbers_of(conn: AsyncConnection, channel: Channel) -> list[tuple[str, str]]:
    """(number, account id) of every number registered for replies on `channel`."""
    rows = await conn.execute(
        select(reply_numbers.c.number, reply_numbers.c.account_id)
        .where(reply_numbers.c.channel == channel.value)
        .order_by(reply_numbers.c.number)
    )
    return [(row.number, row.account_id) for row in rows]


async def set_meta_phone_number_id(
    conn: AsyncConnection, number: str, meta_phone_number_id: str
) -> None:
    await conn.execute(
        update(waba_numbers)
        .where(waba_numbers.c.number == number)
        .values(meta_phone_number_id=meta_phone_number_id)
    )


async def meta_ids_of(conn: AsyncConnection, numbers: Sequence[str]) -> dict[str, str]:
    """Business number → its Meta phone_number_id, for those that have one."""
    if not numbers:
        return {}
    rows = await conn.execute(
        select(waba_numbers.c.number, waba_numbers.c.meta_phone_number_id).where(
            waba_numbers.c.number.in_(sorted(set(numbers))),
            waba_numbers.c.meta_phone_number_id.is_not(None),
        )
    )
    return {row.number: row.meta_phone_number_id for row in rows}


async def owner_of_meta_id(
    conn: AsyncConnection, meta_phone_number_id: str
) -> tuple[str, str] | None:
    """(account id, business number) of the number Meta knows by this id."""
    row = (
        await conn.execute(
            select(waba_numbers.c.account_id, waba_numbers.c.number).where(
                waba_numbers.c.meta_phone_number_id == meta_phone_number_id
            )
        )
    ).first()
    return None if row is None else (row.account_id, row.number)
