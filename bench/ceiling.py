"""The ceiling: a bare aiohttp loop sending dlrhub's requests to the benchmark's receiver.

    python bench/ceiling.py --url http://127.0.0.1:PORT/hook/ceil --n 10000 --pool 256

Runs in its own process (like a dlrhub worker) on uvloop with one `ClientSession` and a
`TCPConnector(limit=pool)`; `pool` coroutines each take the next request and POST it. The
requests are the ones dlrhub would send (same JSON body size, same User-Agent, Content-Type
and Standard Webhooks headers, a distinct `webhook-id` each); they are built and signed
before the clock starts, so this measures only HTTP. Prints one JSON line:
`{"sent", "ok", "elapsed_s", "cpu_s"}`; the caller reads the throughput from the receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import aiohttp
from common import event_payload, run, sample_secret, signed_request

from dlrhub.domain.outgoing import OutgoingRequest


def build_requests(url: str, n: int) -> list[OutgoingRequest]:
    secret = sample_secret()
    requests = []
    for i in range(n):
        payload = event_payload(str(uuid.uuid4()), f"bench-{i:08d}")
        requests.append(signed_request(url, str(uuid.uuid4()), payload, secret))
    return requests


async def _worker(
    session: aiohttp.ClientSession, queue: Iterator[OutgoingRequest], counts: list[int]
) -> None:
    for request in queue:
        try:
            async with session.post(
                request.url, data=request.body, headers=request.headers, allow_redirects=False
            ) as response:
                await response.read()
                counts[0] += 1
                counts[1] += 200 <= response.status < 300
        except (aiohttp.ClientError, OSError, TimeoutError):
            counts[0] += 1


async def blast(url: str, n: int, pool: int) -> dict[str, float]:
    requests = build_requests(url, n)
    queue = iter(requests)
    counts = [0, 0]
    connector = aiohttp.TCPConnector(limit=pool, keepalive_timeout=30)
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=2)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(_worker(session, queue, counts) for _ in range(pool)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"sent": counts[0], "ok": counts[1], "elapsed_s": elapsed, "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--pool", type=int, default=256)
    args = parser.parse_args()
    print(json.dumps(run(blast(args.url, args.n, args.pool))), flush=True)


if __name__ == "__main__":
    main()
