"""The benchmark's webhook receiver: a separate process, plain HTTP on 127.0.0.1.

    python bench/receiver.py [--port 0]

Prints `PORT <n>` on its first stdout line once it listens. Endpoints:

- `POST /hook/{tag}`: answers 200 at once; counts the arrival under `tag` (first and last
  arrival time, distinct `webhook-id`s). A tag starting with `lat` or `e2e` also records, per
  payload `messageId`, when it first arrived (the latency and end-to-end scenarios).
- `POST /hang/{tag}`: counts, then sleeps 10 s before answering (longer than dlrhub's 5 s
  timeout): a webhook that never answers.
- `GET /stats`: `{tag: {count, unique, first, last}}`; `GET /arrivals/{tag}`:
  `{messageId: arrival}`; `POST /reset`: forget everything.

Times are `time.time()` (wall clock): the benchmark runs on one host.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field

from aiohttp import web

HANG_S = 10.0


@dataclass
class Tally:
    count: int = 0
    first: float = 0.0
    last: float = 0.0
    ids: set[str] = field(default_factory=set)
    arrivals: dict[str, float] = field(default_factory=dict)

    def hit(self, now: float, webhook_id: str | None) -> None:
        if self.count == 0:
            self.first = now
        self.count += 1
        self.last = now
        if webhook_id is not None:
            self.ids.add(webhook_id)

    def summary(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "unique": len(self.ids),
            "first": self.first,
            "last": self.last,
        }


class Receiver:
    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}

    def tally(self, tag: str) -> Tally:
        found = self.tallies.get(tag)
        if found is None:
            found = self.tallies[tag] = Tally()
        return found

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        tag = request.match_info["tag"]
        tally = self.tally(tag)
        tally.hit(now, request.headers.get("webhook-id"))
        if tag.startswith(("lat", "e2e")):
            message_id = _message_id(body)
            if message_id is not None:
                tally.arrivals.setdefault(message_id, now)
        return web.Response(status=200)

    async def hang(self, request: web.Request) -> web.Response:
        await request.read()
        self.tally(request.match_info["tag"]).hit(time.time(), request.headers.get("webhook-id"))
        await asyncio.sleep(HANG_S)
        return web.Response(status=200)

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response({tag: t.summary() for tag, t in self.tallies.items()})

    async def arrivals(self, request: web.Request) -> web.Response:
        tally = self.tallies.get(request.match_info["tag"])
        return web.json_response({} if tally is None else tally.arrivals)

    async def reset(self, _request: web.Request) -> web.Response:
        self.tallies.clear()
        return web.json_response({"ok": True})


def _message_id(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("messageId")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def build_app() -> web.Application:
    receiver = Receiver()
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/hook/{tag}", receiver.hook)
    app.router.add_post("/hang/{tag}", receiver.hang)
    app.router.add_get("/stats", receiver.stats)
    app.router.add_get("/arrivals/{tag}", receiver.arrivals)
    app.router.add_post("/reset", receiver.reset)
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(build_app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    with runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
