"""SPEC §5, row by row: the delivery-status webhook API, on both databases (issue 2)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from dlrhub.carriers.simulator import Simulator
from tests.support.api_client import DS, AccountKey
from tests.support.assertions import ISO_Z, assert_problem, error_fields
from tests.support.receiver import Receiver
from tests.support.stack import Stack, stack
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until

HOOK = "https://hooks.example.com/dlr"
OTHER = "https://other.example.net/callbacks/dlr?x=1"
VIEW_KEYS = {"callbackUrl", "createdAt", "updatedAt"}
NO_KEY: dict[str, str] = {}
BAD_KEY = {"X-Api-Key": "dlr_not-a-real-key"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls-ds"))


@pytest.fixture
def receiver(tls: TestTLS) -> Iterator[Receiver]:
    with Receiver(tls=tls) as running:
        yield running


@pytest.fixture
async def dev(db_url: str, tls: TestTLS) -> AsyncIterator[Stack]:
    """Development settings (http:// and loopback allowed), trusting the test CA."""
    async with stack(db_url, ca_bundle=tls.ca_pem_path) as built:
        yield built


@pytest.fixture
async def prod(db_url: str) -> AsyncIterator[Stack]:
    """Production settings: HTTPS only, no private targets."""
    async with stack(db_url, dev=False) as built:
        yield built


@pytest.fixture
async def key(dev: Stack) -> AccountKey:
    return await dev.new_account()


def _view(response: httpx.Response, status: int, url: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    # The contract's three fields; later issues may add more (e.g. why a webhook is disabled).
    assert set(body) >= VIEW_KEYS, body
    assert body["callbackUrl"] == url
    assert ISO_Z.match(body["createdAt"]), body
    assert ISO_Z.match(body["updatedAt"]), body
    return body


async def _simulate_outcomes(built: Stack) -> None:
    """Let the simulator report every due outcome (the dispatcher is not running)."""
    simulator = Simulator(
        db=built.hub.db,
        signals=built.hub.signals,
        clock=built.hub.clock,
        delay=timedelta(0),
        poll_interval_s=0.1,
    )
    while await simulator.step():
        pass


# ---------------------------------------------------------------- GET


async def test_get_200_returns_the_configured_webhook(dev: Stack, key: AccountKey) -> None:
    created = _view(
        await dev.api.post(DS, json={"callbackUrl": HOOK}, headers=key.headers), 201, HOOK
    )
    got = _view(await dev.api.get(DS, headers=key.headers), 200, HOOK)
    assert got == created
    assert got["createdAt"] == got["updatedAt"]


async def test_get_401(dev: Stack, key: AccountKey) -> None:
    await dev.register(key, HOOK)
    for headers in (NO_KEY, BAD_KEY, {"X-Api-Key": ""}):
        assert_problem(await dev.api.get(DS, headers=headers), 401)


async def test_get_404_when_none_configured(dev: Stack, key: AccountKey) -> None:
    assert_problem(await dev.api.get(DS, headers=key.headers), 404)


# ---------------------------------------------------------------- POST


async def test_post_201_returns_the_same_body_as_get(dev: Stack, key: AccountKey) -> None:
    response = await dev.api.post(DS, json={"callbackUrl": HOOK}, headers=key.headers)
    created = _view(response, 201, HOOK)
    assert _view(await dev.api.get(DS, headers=key.headers), 200, HOOK) == created


async def test_post_accepts_url_alias_and_method_post(dev: Stack, key: AccountKey) -> None:
    response = await dev.api.post(DS, json={"url": HOOK, "method": "POST"}, headers=key.headers)
    _view(response, 201, HOOK)
    _view(await dev.api.get(DS, headers=key.headers), 200, HOOK)


MALFORMED_BODIES: list[dict[str, Any]] = [
    {},
    {"callbackUrl": None},
    {"method": "POST"},
    {"callbackUrl": ""},
    {"callbackUrl": "not a url"},
    {"callbackUrl": "hooks.example.com/dlr"},
    {"callbackUrl": "ftp://hooks.example.com/dlr"},
    {"callbackUrl": "https://"},
    {"callbackUrl": "https://user:pw@hooks.example.com/dlr"},
    {"callbackUrl": "https://hooks.example.com:0/dlr"},
    {"callbackUrl": "https://hooks.example.com/" + "a" * 2100},
    {"callbackUrl": 42},
    {"callbackUrl": ["https://hooks.example.com/dlr"]},
    {"url": 1},
]


async def test_post_400_missing_or_malformed(dev: Stack, key: AccountKey) -> None:
    for body in MALFORMED_BODIES:
        problem = assert_problem(await dev.api.post(DS, json=body, headers=key.headers), 400)
        assert error_fields(problem) & {"callbackUrl", "url"}, (body, problem)
    assert_problem(await dev.api.get(DS, headers=key.headers), 404)  # nothing was stored


async def test_post_400_malformed_json(dev: Stack, key: AccountKey) -> None:
    for raw in (b"{not json", b"", b"[]", b'"https://h.example.com/"', b"null", b"\xff\xfe"):
        response = await dev.api.post(
            DS, content=raw, headers={**key.headers, "Content-Type": "application/json"}
        )
        assert_problem(response, 400)


async def test_post_400_method_other_than_post(dev: Stack, key: AccountKey) -> None:
    for method in ("GET", "get", "PUT", "JSON", "XML", ""):
        response = await dev.api.post(
            DS, json={"callbackUrl": HOOK, "method": method}, headers=key.headers
        )
        assert "method" in error_fields(assert_problem(response, 400)), method
    assert_problem(await dev.api.get(DS, headers=key.headers), 404)


async def test_post_400_plain_http_outside_dev_mode(prod: Stack) -> None:
    key = await prod.new_account()
    response = await prod.api.post(
        DS, json={"callbackUrl": "http://hooks.example.com/dlr"}, headers=key.headers
    )
    assert "callbackUrl" in error_fields(assert_problem(response, 400))
    # The same URL over HTTPS is fine.
    ok = await prod.api.post(
        DS, json={"callbackUrl": "https://hooks.example.com/dlr"}, headers=key.headers
    )
    _view(ok, 201, "https://hooks.example.com/dlr")


PRIVATE_TARGETS = [
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://localhost:8443/hook",
    "https://api.localhost/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.10/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://0.0.0.0/hook",
    "https://2130706433/hook",
]


async def test_post_400_private_targets_outside_dev_mode(prod: Stack) -> None:
    key = await prod.new_account()
    for url in PRIVATE_TARGETS:
        for field in ("callbackUrl", "url"):
            response = await prod.api.post(DS, json={field: url}, headers=key.headers)
            assert error_fields(assert_problem(response, 400)) & {"callbackUrl", "url"}, url
    assert_problem(await prod.api.get(DS, headers=key.headers), 404)


async def test_private_and_http_targets_allowed_in_dev_mode(dev: Stack) -> None:
    for url in ("http://127.0.0.1:9/hook", "https://localhost/hook", "https://10.0.0.1/x"):
        key = await dev.new_account()
        _view(await dev.api.post(DS, json={"callbackUrl": url}, headers=key.headers), 201, url)


async def test_post_401(dev: Stack) -> None:
    for headers in (NO_KEY, BAD_KEY):
        assert_problem(await dev.api.post(DS, json={"callbackUrl": HOOK}, headers=headers), 401)
        # Authentication comes before validation: a bad body does not tell strangers more.
        assert_problem(await dev.api.post(DS, json={"callbackUrl": "x"}, headers=headers), 401)


async def test_post_409_when_one_exists_and_never_replaces(dev: Stack, key: AccountKey) -> None:
    first = _view(
        await dev.api.post(DS, json={"callbackUrl": HOOK}, headers=key.headers), 201, HOOK
    )
    for body in ({"callbackUrl": OTHER}, {"url": OTHER}, {"callbackUrl": HOOK}):
        assert_problem(await dev.api.post(DS, json=body, headers=key.headers), 409)
    assert _view(await dev.api.get(DS, headers=key.headers), 200, HOOK) == first


async def test_post_after_delete_creates_again(dev: Stack, key: AccountKey) -> None:
    await dev.register(key, HOOK)
    assert (await dev.api.delete(DS, headers=key.headers)).status_code == 204
    _view(await dev.api.post(DS, json={"callbackUrl": OTHER}, headers=key.headers), 201, OTHER)


# ---------------------------------------------------------------- PUT


async def test_put_200_changes_the_url(dev: Stack, key: AccountKey) -> None:
    created = _view(
        await dev.api.post(DS, json={"callbackUrl": HOOK}, headers=key.headers), 201, HOOK
    )
    updated = _view(
        await dev.api.put(DS, json={"callbackUrl": OTHER}, headers=key.headers), 200, OTHER
    )
    assert updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] >= created["updatedAt"]
    assert _view(await dev.api.get(DS, headers=key.headers), 200, OTHER) == updated
    # `url` is accepted as an alias here too.
    _view(await dev.api.put(DS, json={"url": HOOK}, headers=key.headers), 200, HOOK)


async def test_put_is_effective_for_the_next_event(
    dev: Stack, key: AccountKey, receiver: Receiver
) -> None:
    await dev.register(key, receiver.url_for("/old"))
    dev.start_workers()
    first = await dev.send(key, destination="+393400000111", messageId="before-put")
    [old] = await receiver.await_for(1, predicate=lambda r: r.path == "/old")
    assert old.json()["messageId"] == first["messageId"]

    response = await dev.api.put(
        DS, json={"callbackUrl": receiver.url_for("/new")}, headers=key.headers
    )
    _view(response, 200, receiver.url_for("/new"))
    second = await dev.send(key, destination="+393400000222", messageId="after-put")
    [new] = await receiver.await_for(1, predicate=lambda r: r.path == "/new")
    assert new.json()["messageId"] == second["messageId"]
    assert [r.path for r in receiver.requests] == ["/old", "/new"]


async def test_put_400(dev: Stack, key: AccountKey) -> None:
    await dev.register(key, HOOK)
    bodies: list[dict[str, Any]] = [
        {},
        {"callbackUrl": "not a url"},
        {"callbackUrl": "ftp://hooks.example.com/"},
        {"callbackUrl": 7},
        {"callbackUrl": OTHER, "method": "GET"},
    ]
    for body in bodies:
        assert_problem(await dev.api.put(DS, json=body, headers=key.headers), 400)
    response = await dev.api.put(
        DS, content=b"{oops", headers={**key.headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 400)
    _view(await dev.api.get(DS, headers=key.headers), 200, HOOK)  # unchanged


async def test_put_400_http_and_private_outside_dev_mode(prod: Stack) -> None:
    key = await prod.new_account()
    await prod.register(key, HOOK)
    for url in ("http://hooks.example.com/dlr", "https://127.0.0.1/x", "https://10.0.0.7/x"):
        response = await prod.api.put(DS, json={"callbackUrl": url}, headers=key.headers)
        assert "callbackUrl" in error_fields(assert_problem(response, 400))
    _view(await prod.api.get(DS, headers=key.headers), 200, HOOK)


async def test_put_401(dev: Stack, key: AccountKey) -> None:
    await dev.register(key, HOOK)
    for headers in (NO_KEY, BAD_KEY):
        assert_problem(await dev.api.put(DS, json={"callbackUrl": OTHER}, headers=headers), 401)
    _view(await dev.api.get(DS, headers=key.headers), 200, HOOK)


async def test_put_404_when_none_to_update(dev: Stack, key: AccountKey) -> None:
    assert_problem(await dev.api.put(DS, json={"callbackUrl": OTHER}, headers=key.headers), 404)
    assert_problem(await dev.api.get(DS, headers=key.headers), 404)  # PUT did not create one


# ---------------------------------------------------------------- DELETE


async def test_delete_204_with_empty_body(dev: Stack, key: AccountKey) -> None:
    await dev.register(key, HOOK)
    response = await dev.api.delete(DS, headers=key.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await dev.api.get(DS, headers=key.headers), 404)
    assert_problem(await dev.api.delete(DS, headers=key.headers), 404)


async def test_delete_401(dev: Stack, key: AccountKey) -> None:
    await dev.register(key, HOOK)
    for headers in (NO_KEY, BAD_KEY):
        assert_problem(await dev.api.delete(DS, headers=headers), 401)
    _view(await dev.api.get(DS, headers=key.headers), 200, HOOK)


async def test_delete_404_when_none_configured(dev: Stack, key: AccountKey) -> None:
    assert_problem(await dev.api.delete(DS, headers=key.headers), 404)


async def test_after_delete_nothing_further_is_sent(
    dev: Stack, key: AccountKey, receiver: Receiver
) -> None:
    await dev.register(key, receiver.url_for("/deleted"))
    # Events are queued for the webhook while no dispatcher runs ...
    sent = [
        await dev.send(key, channel=channel, destination=f"+39340000{n:04d}")
        for n, channel in enumerate(("sms", "whatsapp", "rcs"), start=1)
    ]
    await _simulate_outcomes(dev)
    queued = await dev.delivery_rows()
    assert len(queued) >= 3
    assert {row.status for row in queued} == {"pending"}

    # ... then it is deleted: what was queued is cancelled.
    assert (await dev.api.delete(DS, headers=key.headers)).status_code == 204
    assert {row.status for row in await dev.delivery_rows()} == {"cancelled"}

    # A new webhook and a new event: the dispatcher sends that one (whose delivery is due
    # after every cancelled one), and nothing ever reaches the deleted URL.
    await dev.register(key, receiver.url_for("/current"))
    dev.start_workers()
    marker = await dev.send(key, destination="+393409999999", messageId="marker")
    [got] = await receiver.await_for(1, predicate=lambda r: r.path == "/current")
    assert got.json()["messageId"] == marker["messageId"]
    await wait_until(
        lambda: _all_settled(dev), what="every delivery succeeded or cancelled", timeout=10
    )
    assert [r.path for r in receiver.requests] == ["/current"]
    for message in sent:
        polled = await dev.poll(key, message["customerMessageId"])
        assert polled["status"] in {"DELIVERED", "READ"}  # polling is unaffected


async def _all_settled(dev: Stack) -> bool:
    return all(row.status in {"succeeded", "cancelled"} for row in await dev.delivery_rows())


# ---------------------------------------------------------------- scoping


async def test_another_account_cannot_see_or_touch_it(dev: Stack, key: AccountKey) -> None:
    await dev.register(key, HOOK)
    other = await dev.new_account()
    assert_problem(await dev.api.get(DS, headers=other.headers), 404)
    assert_problem(await dev.api.put(DS, json={"callbackUrl": OTHER}, headers=other.headers), 404)
    assert_problem(await dev.api.delete(DS, headers=other.headers), 404)
    _view(await dev.api.get(DS, headers=key.headers), 200, HOOK)
    # One per account, not one per installation.
    _view(await dev.api.post(DS, json={"callbackUrl": OTHER}, headers=other.headers), 201, OTHER)
    _view(await dev.api.get(DS, headers=key.headers), 200, HOOK)
    _view(await dev.api.get(DS, headers=other.headers), 200, OTHER)


async def test_events_of_another_account_never_reach_this_webhook(
    dev: Stack, key: AccountKey, receiver: Receiver
) -> None:
    other = await dev.new_account()
    await dev.register(key, receiver.url_for("/mine"))
    await dev.register(other, receiver.url_for("/theirs"))
    dev.start_workers()
    mine = await dev.send(key, destination="+393400000101")
    theirs = await dev.send(other, destination="+393400000202")
    await receiver.await_for(2)
    paths = {r.json()["messageId"]: r.path for r in receiver.requests}
    assert paths == {mine["messageId"]: "/mine", theirs["messageId"]: "/theirs"}
