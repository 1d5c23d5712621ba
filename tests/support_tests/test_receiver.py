"""The test-support servers checked on their own: free/closed ports, the trustme TLS
material, and the webhook receiver (recording, scripted replies, waiting, shutdown)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.support.net import closed_port, free_port
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from tests.support.tls import TestTLS, make_tls, make_untrusted_server_context

# ---------------------------------------------------------------- net


def test_free_and_closed_ports() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    port = closed_port()
    with socket.socket() as sock:
        sock.settimeout(2)
        with pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))


# ---------------------------------------------------------------- TLS + receiver


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TestTLS:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def receiver(tls: TestTLS) -> Iterator[Receiver]:
    with Receiver(tls=tls.server_ssl_context()) as r:
        yield r


def test_tls_files(tls: TestTLS) -> None:
    assert tls.ca_pem_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
    ctx = ssl.create_default_context(cafile=str(tls.ca_pem_path))
    assert ctx.cert_store_stats()["x509_ca"] == 1


def test_receiver_records_post_over_https(receiver: Receiver, tls: TestTLS) -> None:
    assert receiver.url == f"https://127.0.0.1:{receiver.port}"
    body = b'{"a": 1, "b": "\xc3\xa9"}'
    with httpx.Client(verify=tls.client_ssl_context(), trust_env=False) as client:
        resp = client.post(
            receiver.url_for("/hooks/dlr?x=1&y=2"),
            content=body,
            headers={"Content-Type": "application/json", "X-Thing": "abc"},
        )
    assert resp.status_code == 200
    assert resp.content == b"ok"
    [got] = receiver.wait_for(1)
    assert got.method == "POST"
    assert got.path == "/hooks/dlr"
    assert got.query_string == "x=1&y=2"
    assert got.body == body
    assert got.json() == {"a": 1, "b": "é"}
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-thing"] == "abc"
    assert got.header("X-Thing") == "abc"
    assert got.received_at <= time.monotonic()


def test_receiver_any_method_and_path(receiver: Receiver, tls: TestTLS) -> None:
    with httpx.Client(verify=tls.client_ssl_context(), trust_env=False) as client:
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            assert client.request(method, receiver.url + "/a/b/c").status_code == 200
    assert [r.method for r in receiver.requests] == ["GET", "PUT", "DELETE", "PATCH"]
    receiver.clear()
    assert receiver.requests == []


def test_scripted_replies_in_order(receiver: Receiver, tls: TestTLS) -> None:
    receiver.respond_with(
        Reply(500, b"boom"),
        Reply(204),
        Reply(201, b"made", headers={"X-Reply": "3"}),
    )
    receiver.default_reply = Reply(202, b"later")
    with httpx.Client(verify=tls.client_ssl_context(), trust_env=False) as client:
        replies = [client.post(receiver.url + f"/{i}", content=b"x") for i in range(5)]
    assert [r.status_code for r in replies] == [500, 204, 201, 202, 202]
    assert [r.content for r in replies] == [b"boom", b"", b"made", b"later", b"later"]
    assert replies[2].headers["x-reply"] == "3"
    assert [r.path for r in receiver.wait_for(5)] == [f"/{i}" for i in range(5)]


def test_untrusted_certificate_rejected(tls: TestTLS) -> None:
    with (
        Receiver(tls=make_untrusted_server_context()) as r,
        httpx.Client(verify=tls.client_ssl_context(), trust_env=False) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.post(r.url, content=b"x")


def test_plain_http_receiver() -> None:
    with Receiver() as r, httpx.Client(trust_env=False) as client:
        assert r.url.startswith("http://127.0.0.1:")
        assert client.post(r.url + "/p", content=b"hi").status_code == 200
        assert r.wait_for(1)[0].body == b"hi"


def test_hanging_reply_does_not_block_stop(tls: TestTLS) -> None:
    receiver = Receiver(tls=tls).start()
    receiver.respond_with(Reply(delay_s=30))
    errors: list[BaseException] = []

    def client_call() -> None:
        try:
            with httpx.Client(verify=tls.client_ssl_context(), trust_env=False) as client:
                client.post(receiver.url, content=b"hang", timeout=20)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=client_call)
    thread.start()
    try:
        receiver.wait_for(1, timeout=5)
        # A stop that waited for the handler would outlast its 10 s join and raise; this one
        # returns, and the caller sees its connection closed without an answer (below).
        receiver.stop()
    finally:
        receiver.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1  # the connection was closed without a response


def test_wait_for_timeout_message(receiver: Receiver, tls: TestTLS) -> None:
    with httpx.Client(verify=tls.client_ssl_context(), trust_env=False) as client:
        client.post(receiver.url + "/only-one", content=b"payload-1")
    with pytest.raises(AssertionError) as info:
        receiver.wait_for(2, timeout=0.3)
    message = str(info.value)
    assert "expected at least 2 requests within 0.3 s, got 1" in message
    assert "POST /only-one body=b'payload-1'" in message

    def is_other(r: ReceivedRequest) -> bool:
        return r.path == "/other"

    with pytest.raises(AssertionError, match="got 0 \\(of 1 received\\)"):
        receiver.wait_for(1, timeout=0.2, predicate=is_other)


def test_wait_for_nothing_arrived(receiver: Receiver) -> None:
    with pytest.raises(AssertionError, match="nothing arrived"):
        receiver.wait_for(1, timeout=0.1)


async def test_await_for_with_aiohttp_keepalive(receiver: Receiver, tls: TestTLS) -> None:
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context(), limit=4)
    async with aiohttp.ClientSession(connector=connector) as session:
        waiter = asyncio.create_task(
            receiver.await_for(1, timeout=5, predicate=lambda r: r.path == "/n/199")
        )

        async def post(i: int) -> int:
            async with session.post(receiver.url + f"/n/{i}", data=b"x") as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(*(post(i) for i in range(200)))
        assert set(statuses) == {200}
        [last] = await waiter
        assert last.path == "/n/199"
    # keep-alive: 200 requests over at most `limit` connections
    assert len({r.remote_port for r in receiver.requests}) <= 4
    assert len(receiver.requests) == 200
    with pytest.raises(AssertionError):
        await receiver.await_for(201, timeout=0.1)


async def test_receiver_async_context_manager(tls: TestTLS) -> None:
    async with Receiver(tls=tls) as r:
        r.respond_with(Reply(503))
        async with (
            httpx.AsyncClient(verify=tls.client_ssl_context(), trust_env=False) as client,
        ):
            resp = await client.post(r.url, content=b"a")
        assert resp.status_code == 503
        assert len(await r.await_for(1)) == 1


def test_tls_dir_layout(tmp_path: Path) -> None:
    t = make_tls(tmp_path / "sub")
    assert t.ca_pem_path.parent == tmp_path / "sub"
    assert t.server_cert_path.exists()
    assert t.server_key_path.exists()


def test_clear_keeps_replies_reset_drops_them(receiver: Receiver, tls: TestTLS) -> None:
    receiver.respond_with(Reply(500), Reply(501))
    receiver.default_reply = Reply(418, b"teapot")
    with httpx.Client(verify=tls.client_ssl_context(), trust_env=False) as client:
        assert client.get(receiver.url).status_code == 500
        receiver.clear()
        assert receiver.requests == []
        assert receiver.pending_replies == 1
        assert client.get(receiver.url + "/after-clear").status_code == 501
        assert client.get(receiver.url).status_code == 418
        assert [r.path for r in receiver.wait_for(1, predicate=lambda r: "clear" in r.path)] == [
            "/after-clear"
        ]
        receiver.respond_with(Reply(502))
        receiver.reset()
        assert client.get(receiver.url).status_code == 200
    assert len(receiver.requests) == 1
