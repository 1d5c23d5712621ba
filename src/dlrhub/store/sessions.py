"""Queries on dashboard sessions: rows keyed by the hash of the cookie's token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.store.schema import api_keys, dashboard_sessions


@dataclass(frozen=True)
class SessionRow:
    account_id: str
    key_id: str
    csrf_token: str
    expires_at: datetime


async def insert_session(
    conn: AsyncConnection,
    token_hash: str,
    row: SessionRow,
    now: datetime,
) -> None:
    await conn.execute(
        dashboard_sessions.insert().values(
            token_hash=token_hash,
            account_id=row.account_id,
            key_id=row.key_id,
            csrf_token=row.csrf_token,
            created_at=now,
            expires_at=row.expires_at,
        )
    )


async def find_live_session(
    conn: AsyncConnection, token_hash: str, now: datetime
) -> SessionRow | None:
    """The session with this token hash, if it has not expired and its key is not revoked.

    The key is joined on every lookup, so a revocation written by any process ends the
    session at the next request, with no cache to wait for."""
    s = dashboard_sessions.c
    row = (
        await conn.execute(
            select(s.account_id, s.key_id, s.csrf_token, s.expires_at)
            .select_from(dashboard_sessions.join(api_keys, api_keys.c.id == s.key_id))
            .where(s.token_hash == token_hash, s.expires_at > now, api_keys.c.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    return SessionRow(row.account_id, row.key_id, row.csrf_token, row.expires_at)


async def delete_session(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.token_hash == token_hash)
    )


async def delete_expired(conn: AsyncConnection, now: datetime) -> int:
    """Remove sessions past their expiry (uses the expires_at index); how many went."""
    done = await conn.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now)
    )
    return int(done.rowcount or 0)
