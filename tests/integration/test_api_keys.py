"""API keys (SPEC §14, issue 8 finding 5): list, create and revoke through the API, on both
databases; a revoked key is refused at once by the process that revoked it and, by another
process, once that process's memory of the key expires (`api_key_cache_s`, at most 5 s);
`lastUsedAt` is recorded, at most once a minute."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain.timestamps import format_timestamp
from dlrhub.store.database import Database
from dlrhub.store.engine import create_engine
from dlrhub.store.schema import api_keys
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import AccountKey
from tests.support.assertions import ISO_Z, assert_problem, error_fields, is_uuid
from tests.support.inprocess import serving
from tests.support.stack import make_settings

KEYS = "/api/partner-gateway/v1/account/api-keys"
SECRET = "/api/partner-gateway/v1/account/signing-secret"
VIEW_FIELDS = {"id", "name", "prefix", "createdAt", "lastUsedAt", "revokedAt"}
T0 = datetime(2026, 4, 9, 10, 30, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingDatabase(Database):
    """A real database that counts its write transactions."""

    def __init__(self, url: str) -> None:
        super().__init__(create_engine(url))
        self.transactions = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        self.transactions += 1
        async with super().transaction() as conn:
            yield conn


@dataclass
class Clocked:
    hub: Hub
    api: httpx.AsyncClient
    clock: FakeClock
    db: CountingDatabase


@asynccontextmanager
async def clocked(db_url: str, **overrides: Any) -> AsyncIterator[Clocked]:
    """The API in-process on a hub whose clock the test moves."""
    clock = FakeClock()
    settings = make_settings(db_url, **overrides)
    db = CountingDatabase(db_url)
    hub = Hub.build(settings, db=db, clock=clock)
    try:
        async with serving(create_app(settings, run_workers=False, hub=hub)) as client:
            yield Clocked(hub, client, clock, db)
    finally:
        await hub.db.dispose()


async def _create(api: httpx.AsyncClient, key: AccountKey, name: str) -> dict[str, Any]:
    response = await api.post(KEYS, json={"name": name}, headers=key.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _list(api: httpx.AsyncClient, key: AccountKey) -> dict[str, dict[str, Any]]:
    response = await api.get(KEYS, headers=key.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    for item in items:
        assert set(item) == VIEW_FIELDS, item
    return {item["id"]: item for item in items}


async def test_create_list_and_revoke(
    api: httpx.AsyncClient, account: AccountKey, db_url: str
) -> None:
    created = await _create(api, account, "  billing service  ")
    assert set(created) == VIEW_FIELDS | {"apiKey"}
    assert is_uuid(created["id"])
    assert created["name"] == "billing service"
    assert created["apiKey"].startswith("dlr_")
    assert created["apiKey"].startswith(created["prefix"])
    assert len(created["prefix"]) < len(created["apiKey"]) // 3
    assert ISO_Z.match(created["createdAt"])
    assert created["lastUsedAt"] is None
    assert created["revokedAt"] is None
    new_key = AccountKey(account.account_id, created["apiKey"])
    assert (await api.get(SECRET, headers=new_key.headers)).status_code == 200

    listed = await _list(api, account)
    assert len(listed) == 2  # the account's first key and the new one
    assert listed[created["id"]]["name"] == "billing service"
    (first,) = [item for key_id, item in listed.items() if key_id != created["id"]]
    assert first["name"] == "default"
    # Neither the key nor its hash is ever listed.
    response = await api.get(KEYS, headers=account.headers)
    assert created["apiKey"] not in response.text
    assert created["apiKey"][len(created["prefix"]) :] not in response.text
    async with _hub(db_url) as hub, hub.db.reading() as conn:
        hashes = (await conn.execute(select(api_keys.c.key_hash))).scalars().all()
    assert all(h not in response.text for h in hashes)

    revoked = await api.delete(f"{KEYS}/{created['id']}", headers=account.headers)
    assert revoked.status_code == 204
    assert revoked.content == b""
    assert_problem(await api.get(SECRET, headers=new_key.headers), 401)
    after = (await _list(api, account))[created["id"]]
    assert ISO_Z.match(after["revokedAt"])
    # Idempotent: again is 204, and the key keeps its first revocation time.
    again = await api.delete(f"{KEYS}/{created['id']}", headers=account.headers)
    assert again.status_code == 204
    assert (await _list(api, account))[created["id"]]["revokedAt"] == after["revokedAt"]
    assert (await api.get(SECRET, headers=account.headers)).status_code == 200


async def test_a_key_can_revoke_itself(api: httpx.AsyncClient, account: AccountKey) -> None:
    created = await _create(api, account, "short-lived")
    itself = AccountKey(account.account_id, created["apiKey"])
    response = await api.delete(f"{KEYS}/{created['id']}", headers=itself.headers)
    assert response.status_code == 204
    assert_problem(await api.get(KEYS, headers=itself.headers), 401)
    assert_problem(await api.post(KEYS, json={"name": "x"}, headers=itself.headers), 401)
    assert (await api.get(KEYS, headers=account.headers)).status_code == 200


async def test_another_accounts_key_is_not_found(
    api: httpx.AsyncClient, hub: Hub, account: AccountKey
) -> None:
    other = await hub.accounts.create(f"other-{uuid.uuid4().hex[:8]}")
    other_key = AccountKey(other.account_id, other.api_key)
    (theirs,) = (await _list(api, other_key)).values()
    body = assert_problem(await api.delete(f"{KEYS}/{theirs['id']}", headers=account.headers), 404)
    assert theirs["id"] in body["detail"]
    # Untouched: the other account's key still works and is not revoked.
    assert (await _list(api, other_key))[theirs["id"]]["revokedAt"] is None
    assert theirs["id"] not in await _list(api, account)
    for unknown in (str(uuid.uuid4()), "not-a-key", "x" * 36, "%00" * 12):
        assert_problem(await api.delete(f"{KEYS}/{unknown}", headers=account.headers), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "nul\u0000byte"},
        {"name": "bell\u0007"},
        {"name": 42},
        {"name": None},
        {},
    ],
    ids=["empty", "blank", "too-long", "nul", "control", "number", "null", "missing"],
)
async def test_bad_names_are_400(
    api: httpx.AsyncClient, account: AccountKey, body: dict[str, Any]
) -> None:
    problem = assert_problem(await api.post(KEYS, json=body, headers=account.headers), 400)
    assert "name" in error_fields(problem)
    assert len(await _list(api, account)) == 1  # nothing created


async def test_a_lone_surrogate_in_a_name_is_400(
    api: httpx.AsyncClient, account: AccountKey
) -> None:
    raw = b'{"name": "bad \\ud800 name"}'
    response = await api.post(
        KEYS, content=raw, headers={**account.headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 400)


async def test_longest_name_is_accepted(api: httpx.AsyncClient, account: AccountKey) -> None:
    created = await _create(api, account, "é" * 200)
    assert created["name"] == "é" * 200


async def test_without_a_key_every_route_is_401(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get(KEYS), 401)
    assert_problem(await api.post(KEYS, json={"name": "x"}), 401)
    assert_problem(await api.delete(f"{KEYS}/{uuid.uuid4()}"), 401)
    assert_problem(await api.get(KEYS, headers={"X-Api-Key": "dlr_unknown"}), 401)


async def test_last_used_is_recorded_at_most_once_a_minute(db_url: str) -> None:
    async with clocked(db_url) as stack:
        created = await stack.hub.accounts.create("clocked")
        key = AccountKey(created.account_id, created.api_key)
        (key_id,) = (await _list(stack.api, key)).keys()
        assert await _stored_last_use(stack.hub, key_id) == T0

        stack.clock.advance(30)
        await _list(stack.api, key)
        assert await _stored_last_use(stack.hub, key_id) == T0  # within the minute: no write

        stack.clock.advance(31)
        listed = await _list(stack.api, key)
        assert await _stored_last_use(stack.hub, key_id) == T0 + timedelta(seconds=61)
        # The request that authenticated is the one the listing shows.
        assert listed[key_id]["lastUsedAt"] == format_timestamp(T0 + timedelta(seconds=61))


async def test_last_use_written_by_another_process_is_not_written_again(db_url: str) -> None:
    async with clocked(db_url) as first, clocked(db_url) as second:
        created = await first.hub.accounts.create("two-processes")
        key = AccountKey(created.account_id, created.api_key)
        (key_id,) = (await _list(first.api, key)).keys()
        second.clock.advance(20)
        await _list(second.api, key)
        # The second process read a use 20 s old: it records nothing.
        assert await _stored_last_use(first.hub, key_id) == T0


async def test_concurrent_requests_record_one_use(db_url: str) -> None:
    async with clocked(db_url) as stack:
        created = await stack.hub.accounts.create("busy")
        key = AccountKey(created.account_id, created.api_key)
        before = stack.db.transactions
        # Five requests at once: each reads the key before any has written its use.
        await asyncio.gather(*(_list(stack.api, key) for _ in range(5)))
        assert stack.db.transactions == before + 1
        stack.clock.advance(61)
        await asyncio.gather(*(_list(stack.api, key) for _ in range(5)))
        assert stack.db.transactions == before + 2


async def test_a_key_revoked_elsewhere_is_refused_once_remembered_for_the_cache_time(
    db_url: str,
) -> None:
    async with clocked(db_url) as first, clocked(db_url, api_key_cache_s=2.0) as second:
        created = await first.hub.accounts.create("remembered")
        owner = AccountKey(created.account_id, created.api_key)
        doomed = await _create(first.api, owner, "doomed")
        doomed_headers = {"X-Api-Key": doomed["apiKey"]}
        assert (await first.api.get(SECRET, headers=doomed_headers)).status_code == 200
        assert (await second.api.get(SECRET, headers=doomed_headers)).status_code == 200

        revoked = await first.api.delete(f"{KEYS}/{doomed['id']}", headers=owner.headers)
        assert revoked.status_code == 204
        assert_problem(await first.api.get(SECRET, headers=doomed_headers), 401)
        # The second process found the key live a moment ago: within its 2 s it may still
        # accept it (the window SPEC §14 allows), and not a moment longer.
        second.clock.advance(1.9)
        assert (await second.api.get(SECRET, headers=doomed_headers)).status_code == 200
        second.clock.advance(0.1)
        assert_problem(await second.api.get(SECRET, headers=doomed_headers), 401)
        assert (await second.api.get(SECRET, headers=owner.headers)).status_code == 200


async def test_with_no_cache_a_key_revoked_elsewhere_is_refused_at_once(db_url: str) -> None:
    async with clocked(db_url) as first, clocked(db_url, api_key_cache_s=0) as second:
        created = await first.hub.accounts.create("uncached")
        owner = AccountKey(created.account_id, created.api_key)
        doomed = await _create(first.api, owner, "doomed")
        doomed_headers = {"X-Api-Key": doomed["apiKey"]}
        assert (await second.api.get(SECRET, headers=doomed_headers)).status_code == 200
        await first.api.delete(f"{KEYS}/{doomed['id']}", headers=owner.headers)
        assert_problem(await second.api.get(SECRET, headers=doomed_headers), 401)


async def test_a_burst_with_one_key_reads_its_row_once(db_url: str) -> None:
    async with clocked(db_url) as stack:
        created = await stack.hub.accounts.create("burst")
        key = AccountKey(created.account_id, created.api_key)
        await _list(stack.api, key)
        reads = _count_key_reads(stack.hub)
        answers = await asyncio.gather(
            *(stack.api.get(SECRET, headers=key.headers) for _ in range(20))
        )
        assert [a.status_code for a in answers] == [200] * 20
        assert reads == [0]  # remembered from the listing above
        stack.clock.advance(2)
        assert (await stack.api.get(SECRET, headers=key.headers)).status_code == 200
        assert reads == [1]  # the memory expired: the row is read again


def _count_key_reads(hub: Hub) -> list[int]:
    reads = [0]

    @event.listens_for(hub.db.engine.sync_engine, "before_cursor_execute")
    def _on_execute(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "api_keys.key_hash" in statement:
            reads[0] += 1

    return reads


def test_a_cache_longer_than_the_promise_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key_cache_s"):
        make_settings("sqlite+aiosqlite:///unused.db", api_key_cache_s=5.5)


async def _stored_last_use(hub: Hub, key_id: str) -> datetime | None:
    async with hub.db.reading() as conn:
        value = await conn.execute(select(api_keys.c.last_used_at).where(api_keys.c.id == key_id))
        stored: datetime | None = value.scalar_one()
        return stored


@asynccontextmanager
async def _hub(db_url: str) -> AsyncIterator[Hub]:
    hub = Hub.build(make_settings(db_url))
    try:
        yield hub
    finally:
        await hub.db.dispose()


async def test_routes_are_documented(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    expected = {
        ("get", KEYS): ("200", "ApiKeyList", {"401"}),
        ("post", KEYS): ("201", "NewApiKeyView", {"400", "401"}),
        ("delete", KEYS + "/{keyId}"): ("204", None, {"401", "404"}),
    }
    for (method, path), (success, model, errors) in expected.items():
        operation = spec["paths"][path][method]
        assert operation["summary"], (method, path)
        responses = operation["responses"]
        assert errors <= set(responses), (method, path, sorted(responses))
        for status in errors:
            assert "application/problem+json" in responses[status]["content"]
        if model is None:
            assert not responses[success].get("content")
        else:
            ref = responses[success]["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{model}"
    post = spec["paths"][KEYS]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ApiKeyRequest"
    )
    assert set(schemas["ApiKeyView"]["properties"]) == VIEW_FIELDS
    assert set(schemas["NewApiKeyView"]["properties"]) == VIEW_FIELDS | {"apiKey"}
