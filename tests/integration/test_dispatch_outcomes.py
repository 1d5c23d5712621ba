"""SPEC §7: any 2xx is a success; anything else, 3xx included, is retried, and a redirect is
never followed. The real dispatcher against a real HTTPS receiver, both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.receiver import Receiver, Reply
from tests.support.stack import Stack, stack
from tests.support.tls import TestTLS, make_tls
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls-outcomes"))


@pytest.fixture
def receiver(tls: TestTLS) -> Iterator[Receiver]:
    with Receiver(tls=tls) as running:
        yield running


@pytest.fixture
async def app(db_url: str, tls: TestTLS) -> AsyncIterator[Stack]:
    async with stack(
        db_url, workers=True, ca_bundle=tls.ca_pem_path, retry_schedule="0.2,0.2,0.2"
    ) as built:
        yield built


async def _finished_attempts(app: Stack, receiver: Receiver, first: Reply) -> list[int | None]:
    """Deliver one event whose first attempt gets `first` and every later one 200; return the
    response statuses of its attempts once the delivery succeeded."""
    key = await app.new_account()
    await app.register(key, receiver.url_for("/hook"))
    receiver.respond_with(first)
    sent = await app.send(key)

    async def succeeded() -> str | None:
        rows = await app.delivery_rows(sent["messageId"])
        return str(rows[0].id) if rows and rows[0].status == "succeeded" else None

    delivery_id = await wait_until(succeeded, what="the delivery to succeed")
    return [a.response_status for a in await app.attempt_rows(delivery_id)]


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_any_2xx_is_a_success_at_the_first_attempt(
    app: Stack, receiver: Receiver, status: int
) -> None:
    assert await _finished_attempts(app, receiver, Reply(status)) == [status]


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 307, 308])
async def test_a_3xx_is_retried_and_its_redirect_not_followed(
    app: Stack, receiver: Receiver, status: int
) -> None:
    moved = receiver.url_for("/moved")
    reply = Reply(status, headers={"Location": moved})
    assert await _finished_attempts(app, receiver, reply) == [status, 200]
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
