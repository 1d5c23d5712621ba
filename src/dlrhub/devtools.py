"""Developer tools behind `dlrhub send` and `dlrhub listen`: try dlrhub from a terminal."""

from __future__ import annotations

import asyncio
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Callable

from aiohttp import web

from dlrhub.domain.arrivals import ArrivalCheck
from dlrhub.domain.signing import sign


def send_message(
    base_url: str, api_key: str, channel: str, body: dict[str, object], timeout: float = 30
) -> tuple[int, dict[str, object]]:
    """POST a send request to a running dlrhub: (HTTP status, JSON answer)."""
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/api/message-server/{channel.lower()}/send",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Api-Key": api_key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def signature_verdict(secret: str | None, headers: dict[str, str], body: bytes) -> str:
    """'valid', 'INVALID' or 'not checked' for a received webhook."""
    if secret is None:
        return "not checked"
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not timestamp.isdigit():
        return "INVALID"
    expected = sign([secret], msg_id, int(timestamp), body)
    offered = headers.get("webhook-signature", "").split()
    good = any(hmac.compare_digest(expected, candidate) for candidate in offered)
    return "valid" if good else "INVALID"


def receiver_app(secret: str | None, emit: Callable[[str], None]) -> web.Application:
    arrivals = ArrivalCheck()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        signed = request.query_string.encode() if request.method == "GET" else body
        verdict = signature_verdict(secret, headers, signed)
        webhook_id = headers.get("webhook-id")
        message_id, sequence = _message_and_sequence(body)
        flags = arrivals.flags(webhook_id, message_id, sequence)
        shown = f"  sequence={sequence}" if sequence is not None else ""
        warning = "".join(f"  !! {flag.upper()}" for flag in flags)
        emit(
            f"{request.method} {request.path_qs}  webhook-id={webhook_id or '-'}{shown}"
            f"  signature {verdict}{warning}\n  {body.decode('utf-8', errors='replace')}"
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receive)
    return app


def _message_and_sequence(body: bytes) -> tuple[str | None, object]:
    """A JSON event's messageId and sequence (None when it has none, or is not JSON)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    message_id = payload.get("messageId")
    return (message_id if isinstance(message_id, str) else None), payload.get("sequence")


async def listen(host: str, port: int, secret: str | None, emit: Callable[[str], None]) -> None:
    runner = web.AppRunner(receiver_app(secret, emit), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    emit(f"listening on http://{host}:{port}/ (Ctrl-C to stop)")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
