"""The end-to-end load generator: a customer sending simulated SMS through dlrhub's public API.

    python bench/loadgen.py --urls http://127.0.0.1:8001,http://127.0.0.1:8002 --key KEY \
        --connections 32 --out sends.json burst --n 2000
    python bench/loadgen.py ... steady --rate 500 --duration 10

Runs in its own process on uvloop (like the ceiling and the receiver), so its CPU is not
dlrhub's. Every request is what a customer sends: `POST /api/message-server/sms/send` with
`X-Api-Key` and the JSON body `{"destination", "body", "simulation": true}`. Connections are
spread evenly over `--urls` (one `ClientSession` per API process, `--connections` in all).

- `burst`: closed loop, `--connections` coroutines each sending the next message as soon as
  its previous one was answered: the send API's accepted rate.
- `steady`: open loop, message i is sent at start + i/rate whether or not earlier ones were
  answered: latency at a given offered rate.

Writes `{"ids", "sent", "ack", "status", "cpu_s", "elapsed_s"}` to `--out` (per message: the
`messageId` of a 201, or null; wall-clock `time.time()` when the request started and when its
answer arrived) and prints a one-line summary.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from common import run

SEND_PATH = "/api/message-server/sms/send"


def destination(i: int) -> str:
    """A distinct E.164 number per message, always ending in 7: the simulator reports
    DELIVERED for it (SPEC §10: the endings 0006 and 0008 fail, 0003 is never read)."""
    return f"+39340{i % 1_000_000:06d}7"


def body(i: int) -> bytes:
    return json.dumps(
        {"destination": destination(i), "body": f"bench {i}", "simulation": True}
    ).encode()


@dataclass
class Sends:
    """What happened to each message, in the order they were started."""

    ids: list[str | None] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    ack: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)


class Client:
    def __init__(self, urls: list[str], key: str, connections: int) -> None:
        per_url = max(1, -(-connections // len(urls)))
        self.urls = urls
        self.headers = {"X-Api-Key": key, "Content-Type": "application/json"}
        self.sessions = [
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=per_url, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=120),
            )
            for _ in urls
        ]

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()

    async def send(self, i: int, which: int) -> tuple[str | None, float, float, int]:
        """Send message `i` to API process `which`; (messageId or None, sent, ack, status)."""
        session, url = self.sessions[which], self.urls[which] + SEND_PATH
        sent = time.time()
        try:
            async with session.post(url, data=body(i), headers=self.headers) as response:
                answer = await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None, sent, time.time(), 0
        ack = time.time()
        if status != 201:
            return None, sent, ack, status
        return str(json.loads(answer)["messageId"]), sent, ack, status


async def burst(client: Client, first: int, n: int, connections: int) -> Sends:
    results: list[tuple[str | None, float, float, int] | None] = [None] * n
    numbers: Iterator[int] = iter(range(n))

    async def worker(k: int) -> None:
        for j in numbers:
            results[j] = await client.send(first + j, k % len(client.urls))

    await asyncio.gather(*(worker(k) for k in range(connections)))
    return _collect(results)


async def steady(client: Client, first: int, rate: float, duration_s: float) -> Sends:
    n = int(rate * duration_s)
    start = time.perf_counter()
    tasks = []
    for j, which in zip(range(n), itertools.cycle(range(len(client.urls))), strict=False):
        delay = start + j / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(client.send(first + j, which)))
    return _collect(list(await asyncio.gather(*tasks)))


def _collect(results: list[tuple[str | None, float, float, int] | None]) -> Sends:
    sends = Sends()
    for item in results:
        assert item is not None
        sends.ids.append(item[0])
        sends.sent.append(item[1])
        sends.ack.append(item[2])
        sends.status.append(item[3])
    return sends


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    client = Client(args.urls.split(","), args.key, args.connections)
    cpu, started = time.process_time(), time.perf_counter()
    try:
        if args.mode == "burst":
            sends = await burst(client, args.first, args.n, args.connections)
        else:
            sends = await steady(client, args.first, args.rate, args.duration)
    finally:
        await client.close()
    result: dict[str, object] = {
        **vars(sends),
        "cpu_s": time.process_time() - cpu,
        "elapsed_s": time.perf_counter() - started,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--urls", required=True, help="dlrhub API base URLs, comma-separated")
    parser.add_argument("--key", required=True, help="the account's API key")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--first", type=int, default=0, help="number of the first message")
    parser.add_argument("--out", required=True, help="where to write the per-message JSON")
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("burst").add_argument("--n", type=int, required=True)
    steady_args = modes.add_parser("steady")
    steady_args.add_argument("--rate", type=float, required=True)
    steady_args.add_argument("--duration", type=float, required=True)
    args = parser.parse_args()
    result = run(main_async(args))
    Path(args.out).write_text(json.dumps(result))
    statuses = result["status"]
    assert isinstance(statuses, list)
    summary = {
        "sent": len(statuses),
        "created": sum(1 for s in statuses if s == 201),
        "elapsed_s": result["elapsed_s"],
        "cpu_s": result["cpu_s"],
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
