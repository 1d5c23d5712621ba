"""SPEC §7, issue 8 finding 1: no callback URL reaches the internal network, however spelled.

Outside ``--dev`` (``dev=False``, ``allow_private_targets=False``; ``allow_http=True`` so the
http rows take the http path), every row is refused at registration (``400`` naming the field,
on the delivery-status webhook and on richer webhooks) or at connect time (the attempt ends in
"refused by URL policy: …"), and a real listener on the loopback addresses never sees a byte.
The control half of the connector test shows the same rows do reach that listener when the
policy is off: the listener, and the danger, are real.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from dlrhub.config import Settings
from dlrhub.domain.errors import InvalidInput
from dlrhub.domain.outgoing import OutgoingRequest
from dlrhub.domain.urlpolicy import UrlPolicy, check_callback_url, client_url
from dlrhub.outbound.client import (
    DeliveryClient,
    PolicyRefusal,
    PolicyResolver,
    guarded_socket,
    policy_connector,
    tls_context,
)
from dlrhub.wiring.app import create_app
from dlrhub.wiring.hub import Hub
from tests.support.api_client import API, AccountKey, send
from tests.support.inprocess import serving
from tests.support.net import closed_port
from tests.support.richer_webhooks import create_webhook, webhook_body
from tests.support.stack import make_settings, running_workers
from tests.support.waiting import wait_until

# (what it is, the URL with {port} for the listener's port)
ROWS: list[tuple[str, str]] = [
    ("full-width digits", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{port}/x"),
    ("full-width digits, https", "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{port}/x"),
    ("ideographic full stops", "http://127\u30020\u30020\u30021:{port}/"),
    ("full-width full stops", "http://127\uff0e0\uff0e0\uff0e1:{port}/"),
    ("halfwidth ideographic full stops", "http://127\uff610\uff610\uff611:{port}/"),
    ("circled digits", "http://\u2460\u2461\u2466.0.0.1:{port}/"),
    ("mathematical digits", "http://\U0001d7cf\U0001d7d0\U0001d7d5.0.0.1:{port}/"),
    (
        "full-width metadata address",
        "http://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/latest",
    ),
    (
        "full-width localhost",
        "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:{port}/",
    ),
    ("decimal", "http://2130706433:{port}/"),
    ("octal", "http://0177.0.0.1:{port}/"),
    ("hex", "http://0x7f.1:{port}/"),
    ("short", "http://127.1:{port}/"),
    ("IPv6 loopback", "http://[::1]:{port}/"),
    ("IPv4-mapped", "http://[::ffff:127.0.0.1]:{port}/"),
    ("IPv4-mapped, hex", "http://[::ffff:7f00:1]:{port}/"),
    ("NAT64", "http://[64:ff9b::7f00:1]:{port}/"),
    ("userinfo", "http://evil.com@127.0.0.1:{port}/"),
    ("trailing dot", "http://127.0.0.1.:{port}/"),
    ("localhost", "http://localhost:{port}/"),
    ("localhost.", "http://localhost.:{port}/"),
    ("plain loopback, https", "https://127.0.0.1:{port}/"),
]
UNICODE_ROWS = {name for name, _ in ROWS[:7]}

# Names that pass registration and only resolve to loopback when the connection is made.
FAKE_NAMES = {
    "hooks.customer.example": "127.0.0.1",
    "v6.customer.example": "::1",
    "mapped.customer.example": "::ffff:127.0.0.1",
}
REFUSED = "refused by URL policy: "


class LoopbackListener:
    """A TCP server on 127.0.0.1 and ::1 (same port) that answers like an internal HTTP
    service and counts what reaches it."""

    def __init__(self) -> None:
        self.connections = 0
        self.bytes = 0
        self.port = 0
        self._servers: list[asyncio.Server] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        data = await reader.read(65536)
        self.bytes += len(data)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\ninternal secret")
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> LoopbackListener:
        first = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = first.sockets[0].getsockname()[1]
        self._servers = [first, await asyncio.start_server(self._handle, "::1", self.port)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    def untouched(self) -> bool:
        return self.connections == 0 and self.bytes == 0


class HostsResolver(AbstractResolver):
    """A fake DNS: answers the names in its table, and asks the system about the rest."""

    def __init__(self, table: dict[str, str]) -> None:
        self._table = table
        self._system = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._table:
            return await self._system.resolve(host, port, family)
        address = self._table[host]
        found = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            ResolveResult(hostname=host, host=address, port=port, family=found, proto=0, flags=0)
        ]

    async def close(self) -> None:
        await self._system.close()


def loopback_aliases() -> list[str]:
    """Names this machine's resolver maps to loopback and the policy cannot tell apart from
    public ones (the host name, /etc/hosts entries): an attacker's DNS name in miniature."""
    hosts = Path("/etc/hosts")
    names = {socket.gethostname()}
    if hosts.exists():
        for line in hosts.read_text().splitlines():
            names.update(line.split("#", 1)[0].split()[1:])
    return sorted(name for name in names if _passes_registration(name) and _only_loopback(name))


def _passes_registration(name: str) -> bool:
    try:
        check_callback_url(f"https://{name}/", UrlPolicy())
    except InvalidInput:
        return False
    return True


def _only_loopback(name: str) -> bool:
    try:
        infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(info[4][0] in ("127.0.0.1", "::1") for info in infos)


def production_settings(db_url: str = "sqlite+aiosqlite:///unused.db", **extra: Any) -> Settings:
    return make_settings(
        db_url,
        dev=False,
        allow_private_targets=False,
        allow_http=True,
        test_rate_per_minute=1000,
        **extra,
    )


def urls(port: int) -> Iterator[tuple[str, str]]:
    for name, template in ROWS:
        yield name, template.format(port=port)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return production_settings(db_url)


@pytest.fixture
async def listener() -> AsyncIterator[LoopbackListener]:
    async with LoopbackListener() as running:
        yield running


@asynccontextmanager
async def delivery_client(settings: Settings) -> AsyncIterator[DeliveryClient]:
    async with DeliveryClient(
        policy=settings.url_policy,
        timeout_s=2,
        connect_timeout_s=1,
        ca_bundle=None,
        max_connections=4,
    ) as client:
        yield client


def no_address(text: str) -> bool:
    return not any(address in text for address in ("127.0.0.1", "::1", "7f00:1"))


async def test_registration_refuses_every_row(
    api: httpx.AsyncClient, account: AccountKey, listener: LoopbackListener
) -> None:
    accepted: list[str] = []
    for name, url in urls(listener.port):
        status = await api.post(
            f"{API}/webhooks/delivery-status", json={"callbackUrl": url}, headers=account.headers
        )
        richer = await api.post(
            f"{API}/webhooks",
            json=webhook_body("SMS", "DLR", "JSON", url),
            headers=account.headers,
        )
        for response, field in ((status, "callbackUrl"), (richer, "url")):
            body = response.json()
            fields = [error["field"] for error in body.get("errors", [])]
            if response.status_code != 400 or fields != [field]:
                accepted.append(f"{name}: {url!r} → {response.status_code} {body}")
    assert accepted == []
    assert listener.untouched()


async def test_the_delivery_client_refuses_every_row(listener: LoopbackListener) -> None:
    rows = list(urls(listener.port))
    rows += [(f"alias {n}", f"http://{n}:{listener.port}/") for n in loopback_aliases()]
    sent: list[str] = []
    async with delivery_client(production_settings()) as client:
        for name, url in rows:
            result = await client.send(OutgoingRequest("POST", url, {}, b"{}"))
            if result.error is None or not result.error.startswith(REFUSED):
                sent.append(f"{name}: {url!r} → {result.status} {result.error}")
            elif not no_address(result.error):
                sent.append(f"{name}: the error names an address: {result.error}")
    assert sent == []
    assert listener.untouched()


async def _outcome(session: aiohttp.ClientSession, url: str) -> str:
    try:
        async with session.get(client_url(url)) as response:
            return f"status {response.status}"
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, PolicyRefusal):
            # A refusal names the policy, never the address a name resolved to.
            return "policy" if no_address(str(exc.os_error)) else f"policy: {exc.os_error}"
        return f"connect error: {exc.os_error}"
    except aiohttp.InvalidUrlClientError:
        return "aiohttp refuses the URL"


async def test_the_connect_time_check_alone_refuses_every_row(
    listener: LoopbackListener,
) -> None:
    """Without the registration check (the connector as the client builds it, fed URLs
    directly): literal addresses, however spelled, and names resolving to loopback."""
    rows = list(urls(listener.port))
    rows += [(f"name {n}", f"http://{n}:{listener.port}/") for n in FAKE_NAMES]
    context = tls_context(None)

    async def outcomes(policy: UrlPolicy, rows: list[tuple[str, str]]) -> dict[str, str]:
        connector = policy_connector(
            policy, ssl_context=context, limit=4, resolver=HostsResolver(FAKE_NAMES)
        )
        async with aiohttp.ClientSession(connector=connector) as session:
            return {name: await _outcome(session, url) for name, url in rows}

    guarded = await outcomes(UrlPolicy(allow_http=True), rows)
    assert listener.untouched(), guarded
    # Control: with private targets allowed, the same rows do reach the listener (only rows
    # aimed at it: the metadata row would ask a real 169.254.169.254, if there is one).
    before = listener.connections
    local = [(name, url) for name, url in rows if f":{listener.port}/" in url]
    unguarded = await outcomes(UrlPolicy(allow_http=True, allow_private=True), local)
    reached = {name for name, outcome in unguarded.items() if outcome.startswith("status")}
    tls_reached = {name for name, outcome in unguarded.items() if "SSL" in outcome}
    assert listener.connections > before
    assert UNICODE_ROWS - {"full-width digits, https"} <= reached, unguarded
    assert {"IPv4-mapped", "userinfo", "localhost", "name hooks.customer.example"} <= reached
    # Every row that can reach the listener is stopped by the policy, before connecting.
    for name in reached | tls_reached:
        assert guarded[name] == "policy", (name, guarded[name])
    # The rest are refused by aiohttp itself (non-canonical IPv4 text), or do not resolve
    # here at all ("localhost." on resolvers that do not strip the root dot).
    others = {name for name, outcome in guarded.items() if outcome != "policy"}
    assert all(guarded[name] == "aiohttp refuses the URL" for name in others - {"localhost."})


async def register_under_dev(db_url: str, account: AccountKey, urls: list[str]) -> list[str]:
    """Register `urls` as the account's webhooks the way they got in while the policy was
    off (under --dev, or before this fix): the delivery-status webhook gets the first one,
    richer webhooks (which take ASCII URLs only) the others. Returns the richer ones' ids."""
    dev = make_settings(db_url)
    dev_hub = Hub.build(dev)
    try:
        async with serving(create_app(dev, run_workers=False, hub=dev_hub)) as dev_api:
            response = await dev_api.post(
                f"{API}/webhooks/delivery-status",
                json={"callbackUrl": urls[0]},
                headers=account.headers,
            )
            assert response.status_code == 201, response.text
            return [
                (await create_webhook(dev_api, account, webhook_body("SMS", "DLR", "JSON", url)))[
                    "id"
                ]
                for url in urls[1:]
            ]
    finally:
        await dev_hub.db.dispose()


async def test_urls_registered_while_the_policy_was_off_are_refused_at_connect_time(
    db_url: str, hub: Hub, api: httpx.AsyncClient, account: AccountKey, listener: LoopbackListener
) -> None:
    """Outside --dev, a real delivery (the attack of issue 8: read an internal service's
    answer in the delivery log) and a test call both end in a refusal, and nothing connects."""
    port = listener.port
    aliases = [f"http://{name}:{port}/" for name in loopback_aliases()]
    richer = [f"http://[::ffff:7f00:1]:{port}/", f"http://0x7f.1:{port}/", *aliases]
    full_width = f"http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{port}/x"
    webhook_ids = await register_under_dev(db_url, account, [full_width, *richer])
    async with running_workers(hub):
        await send(api, account, "SMS", destination="+393401234567")
        attempt = await first_attempt(api, account)
    assert attempt["error"].startswith(REFUSED), attempt
    assert no_address(attempt["error"]), attempt
    assert not attempt["responseBody"]
    for url, webhook_id in zip(richer, webhook_ids, strict=True):
        response = await api.post(f"{API}/webhooks/{webhook_id}/test", headers=account.headers)
        if url in aliases:  # the name passes every check on its text
            assert response.status_code == 200, response.text
        if response.status_code == 400:  # the test call checks the webhook again first
            assert [e["field"] for e in response.json()["errors"]] == ["url"], response.text
            continue
        result = response.json()
        assert result["response"] is None, result
        assert result["error"].startswith(REFUSED), result
        assert no_address(result["error"]), result
    assert listener.untouched()


async def first_attempt(api: httpx.AsyncClient, account: AccountKey) -> dict[str, Any]:
    """The first logged attempt of the account's delivery-status delivery, once there is one."""
    found: dict[str, Any] = {}

    async def attempted() -> bool:
        listing = await api.get(
            f"{API}/deliveries", params={"webhookId": "delivery-status"}, headers=account.headers
        )
        for item in listing.json()["items"]:
            detail = await api.get(f"{API}/deliveries/{item['id']}", headers=account.headers)
            if detail.json()["attemptLog"]:
                found.update(detail.json()["attemptLog"][0])
                return True
        return False

    await wait_until(attempted, what="a delivery attempt")
    return found


async def test_connection_errors_never_name_the_address() -> None:
    """A customer learns that the connection failed, not what their name resolved to (the
    socket layer's text says "Connect call failed ('127.0.0.1', port)")."""
    dev = make_settings("sqlite+aiosqlite:///unused.db")
    async with delivery_client(dev) as client:
        result = await client.send(
            OutgoingRequest("POST", f"http://localhost:{closed_port()}/", {}, b"{}")
        )
    assert result.error == "could not connect: Connection refused"


@pytest.mark.parametrize(
    ("family", "sockaddr", "refused"),
    [
        (socket.AF_INET, ("127.0.0.1", 80), True),
        (socket.AF_INET, ("169.254.169.254", 80), True),
        (socket.AF_INET, ("192.0.0.170", 80), True),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 80, 0, 0), True),
        (socket.AF_INET6, ("fe80::1", 80, 0, 2), True),
        (socket.AF_INET, ("8.8.8.8", 443), False),
        (socket.AF_INET6, ("2606:4700:4700::1111", 443, 0, 0), False),
    ],
)
def test_the_socket_factory_judges_each_address(
    family: socket.AddressFamily, sockaddr: tuple[Any, ...], refused: bool
) -> None:
    """The last line of defence, whatever the resolver said: no socket for a forbidden
    address (a public one gets an ordinary, unconnected socket)."""
    info = (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)
    if refused:
        with pytest.raises(PolicyRefusal) as excinfo:
            guarded_socket(info)
        assert no_address(str(excinfo.value))
    else:
        with guarded_socket(info) as sock:
            assert sock.family == family


async def test_the_resolver_refuses_a_name_with_only_non_public_answers() -> None:
    """The first line at connect time, before any socket: a name that resolves only to
    non-public addresses is refused, without naming them, and a public one passes; dev
    mode (private targets allowed) passes every answer through."""
    table = {"private.customer.example": "127.0.0.1", "public.customer.example": "8.8.8.8"}
    guarded = PolicyResolver(allow_private=False, inner=HostsResolver(table))
    try:
        [public] = await guarded.resolve("public.customer.example", 443)
        assert public["host"] == "8.8.8.8"
        with pytest.raises(PolicyRefusal) as excinfo:
            await guarded.resolve("private.customer.example", 443)
        assert no_address(str(excinfo.value))
        dev = PolicyResolver(allow_private=True, inner=HostsResolver(table))
        [loopback] = await dev.resolve("private.customer.example", 443)
        assert loopback["host"] == "127.0.0.1"
        await dev.close()
    finally:
        await guarded.close()
