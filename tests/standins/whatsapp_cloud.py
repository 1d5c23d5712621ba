"""A stand-in for Meta's WhatsApp Cloud API, run as its own process for tests (issue 12):

    python -m tests.standins.whatsapp_cloud --port 0 --token T --app-secret S \\
        --notify-url http://127.0.0.1:8000/carrier/v1/whatsapp [--ca-file ca.pem] \\
        [--status-delay-ms 20] [--exit-on-stdin-eof]

It answers `POST /{version}/{phone_number_id}/messages` as Meta documents it, and posts signed
webhook notifications (statuses, inbound messages) to the notify URL. What it does depends on the
recipient's last two digits:

    sends:    01 refused for good (131026)       02 two 429s (130429), then accepted
              03 one pair rate limit (131056)    04 refused for good (131047, 24 h window)
              05 one 500 (131000), then accepted
    statuses: default sent, delivered, read      06 sent, read (delivered skipped)
              07 sent, read, delivered           08 sent, delivered, delivered, read, read
              09 sent, failed (131026)

Control, JSON over HTTP on the same port (each answers `{"http_status", "body"}` as the notify URL
answered, or `"error"` when it could not be reached): `POST /_control/inbound`, `/_control/batch`,
`/_control/signature`, `/_control/verify` (see the handlers). Events go to stdout as JSON lines:
`listening`, `send`, `notify`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import signal
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["Config", "StandIn", "main", "sign"]

WABA_ID = "102290129340398"
DISPLAY_PHONE_NUMBER = "15550783881"
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
MEDIA_MIME = {
    "image": "image/jpeg",
    "audio": "audio/ogg; codecs=opus",
    "video": "video/mp4",
    "sticker": "image/webp",
}
STATUS_ORDERS = {
    "06": ("sent", "read"),
    "07": ("sent", "read", "delivered"),
    "08": ("sent", "delivered", "delivered", "read", "read"),
    "09": ("sent", "failed"),
}
DEFAULT_ORDER = ("sent", "delivered", "read")
PAIR_LIMIT = "(Business Account, Consumer Account) pair rate limit hit"
ERRORS: dict[int, tuple[int, str, str]] = {  # code: (HTTP status, title, details)
    131026: (400, "Message undeliverable", "Message Undeliverable."),
    130429: (429, "Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (400, PAIR_LIMIT, "Too many messages to the same recipient in a short time."),
    131047: (400, "Re-engagement message", "More than 24 hours since the customer last replied."),
    131000: (500, "Something went wrong", "Something went wrong."),
}
# last two digits of the recipient: (error code, how many sends get it; None = every one)
REFUSALS = {"01": (131026, None), "02": (130429, 2), "03": (131056, 1), "04": (131047, None)}
REFUSALS["05"] = (131000, 1)
ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
UNKNOWN_RECIPIENT = "15550000000"
_DIGITS = re.compile(r"[0-9]{5,20}")
_MAX_BODY_CHARS = 4096


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout: the runner in tests/support reads these."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def sign(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta computes: HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def now() -> str:
    """Meta writes timestamps as strings of unix seconds."""
    return str(int(time.time()))


def new_wamid(number: str) -> str:
    return "wamid." + base64.b64encode(f"{number}:{secrets.token_hex(12)}".encode()).decode()


def graph_error(code: int, message: str, details: str | None) -> dict[str, Any]:
    """Meta's Graph error object; auth errors (190) carry no error_data, as Meta's do."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)[:22]
    return {"error": error}


def body_problem(body: Any) -> str | None:
    """Why a send body is not the one dlrhub must send (SPEC §11.3), or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    expected = {"messaging_product", "recipient_type", "to", "type", "text"}
    if set(body) != expected:
        return f"expected exactly the fields {sorted(expected)}, got {sorted(body)}"
    if body["messaging_product"] != "whatsapp" or body["recipient_type"] != "individual":
        return "messaging_product must be whatsapp and recipient_type individual"
    if not isinstance(body["to"], str) or not _DIGITS.fullmatch(body["to"]):
        return "to must be the recipient's number as digits only"
    text = body["text"]
    if body["type"] != "text" or not isinstance(text, dict) or not set(text) <= {"body"}:
        return 'type must be text and text must be {"body": ...}'
    if not isinstance(text.get("body"), str) or not 0 < len(text["body"]) <= _MAX_BODY_CHARS:
        return f"text.body must be a string of 1 to {_MAX_BODY_CHARS} characters"
    return None


@dataclass(frozen=True)
class Config:
    token: str
    app_secret: str
    notify_url: str
    port: int = 0
    ca_file: str | None = None
    status_delay_ms: int = 20


@dataclass
class Sent:
    wamid: str
    phone_number_id: str
    to: str


@dataclass
class StandIn:
    config: Config
    sent: list[Sent] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)  # sends refused so far, by number
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None

    # -- the Cloud API ---------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.Response:
        phone_number_id = request.match_info["phone_number_id"]
        if request.headers.get("Authorization") != f"Bearer {self.config.token}":
            error = graph_error(190, "Invalid OAuth access token - Cannot parse access token", None)
            return self._answer_send(phone_number_id, None, 401, error)
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        problem = body_problem(body)
        if problem is not None:
            error = graph_error(100, "(#100) Invalid parameter", problem)
            return self._answer_send(phone_number_id, body, 400, error)
        to: str = body["to"]
        code = self._refusal(to)
        if code is not None:
            status, title, details = ERRORS[code]
            error = graph_error(code, f"(#{code}) {title}", details)
            return self._answer_send(phone_number_id, body, status, error)
        sent = Sent(new_wamid(to), phone_number_id, to)
        self.sent.append(sent)
        task = asyncio.create_task(self._report(sent, STATUS_ORDERS.get(to[-2:], DEFAULT_ORDER)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": sent.wamid}],
        }
        return self._answer_send(phone_number_id, body, 200, answer)

    def _refusal(self, to: str) -> int | None:
        """The error code this send gets, if any; counts the refusals per number."""
        code, times = REFUSALS.get(to[-2:], (None, None))
        if code is None or (times is not None and self.refused.get(to, 0) >= times):
            return None
        self.refused[to] = self.refused.get(to, 0) + 1
        return code

    @staticmethod
    def _answer_send(
        phone_number_id: str, body: Any, status: int, answer: dict[str, Any]
    ) -> web.Response:
        sent = isinstance(body, dict)
        text = body.get("text") if sent else None
        emit(
            "send",
            phone_number_id=phone_number_id,
            to=body.get("to") if sent else None,
            body=text.get("body") if isinstance(text, dict) else None,
            wamid=answer["messages"][0]["id"] if status == 200 else None,
            http_status=status,
            error_code=answer["error"]["code"] if status != 200 else None,
        )
        return web.json_response(answer, status=status)

    # -- notifications ---------------------------------------------------------------------

    async def _report(self, sent: Sent, order: tuple[str, ...]) -> None:
        """One notification per status, status_delay_ms apart (the first one too: Meta's `sent`
        comes after the API's answer, never with it)."""
        for status in order:
            await asyncio.sleep(self.config.status_delay_ms / 1000)
            value = {"statuses": [status_of(sent, status)]}
            await self.notify("status", sent.phone_number_id, value)

    async def notify(
        self, kind: str, phone_number_id: str, value: dict[str, Any], signature: str = "right"
    ) -> dict[str, Any]:
        """POST one webhook body; never raises: an unreachable URL is an event and an answer."""
        body = json.dumps(envelope(phone_number_id, value), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        if signature == "right":
            headers["X-Hub-Signature-256"] = sign(self.config.app_secret, body)
        elif signature == "wrong":
            headers["X-Hub-Signature-256"] = sign(self.config.app_secret + "-wrong", body)
        count = len(value.get("statuses", value.get("messages", [])))
        return await self._request("POST", kind, count, data=body, headers=headers)

    async def _request(self, method: str, kind: str, count: int, **kwargs: Any) -> dict[str, Any]:
        assert self.session is not None
        started = time.monotonic()
        outcome: dict[str, Any]
        try:
            async with self.session.request(method, self.config.notify_url, **kwargs) as answer:
                outcome = {"http_status": answer.status, "body": await answer.text()}
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            outcome = {"http_status": None, "body": None, "error": f"{type(exc).__name__}: {exc}"}
        event = {"kind": kind, "http_status": outcome["http_status"], "count": count}
        event["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
        emit("notify", **event, **({"error": outcome["error"]} if "error" in outcome else {}))
        return outcome

    # -- control ---------------------------------------------------------------------------

    async def control_inbound(self, request: web.Request) -> web.Response:
        """{"from", "phone_number_id", "type": "text"|"image"|..., "text", "name"?}"""
        command = await request.json()
        sender, kind = str(command["from"]), command.get("type", "text")
        message: dict[str, Any] = {"from": sender, "id": new_wamid(sender), "timestamp": now()}
        message["type"] = kind
        if kind == "text":
            message["text"] = {"body": command.get("text", "")}
        elif kind in MEDIA_TYPES:
            message[kind] = media_object(kind, command.get("text"))
        else:
            return web.json_response({"error": f"unsupported type {kind!r}"}, status=400)
        contact = {"profile": {"name": command.get("name", "Test User")}, "wa_id": sender}
        value = {"contacts": [contact], "messages": [message]}
        outcome = await self.notify("message", str(command["phone_number_id"]), value)
        return web.json_response({**outcome, "wamid": message["id"]})

    async def control_batch(self, request: web.Request) -> web.Response:
        """{"count", "status", "wamids"?, "phone_number_id"?}: one notification with `count`
        statuses: for the wamids given, else the last ones sent, padded with unknown wamids."""
        command = await request.json()
        status = command.get("status", "delivered")
        given = [self._find(wamid) for wamid in command.get("wamids", [])]
        count = int(command.get("count", len(given)))
        chosen = given[:count] if given else self.sent[-count:] if count > 0 else []
        chosen += [unknown() for _ in range(count - len(chosen))]
        phone_number_id = command.get("phone_number_id") or self._last_phone_number_id()
        value = {"statuses": [status_of(s, status) for s in chosen]}
        return web.json_response(await self.notify("batch", phone_number_id, value))

    async def control_signature(self, request: web.Request) -> web.Response:
        """{"mode": "wrong"|"missing", "wamid"?, "status"?}: one status, badly signed."""
        command = await request.json()
        mode = command["mode"]
        if mode not in ("wrong", "missing"):
            return web.json_response({"error": "mode must be wrong or missing"}, status=400)
        last = self.sent[-1] if self.sent else unknown()
        target = self._find(command["wamid"]) if "wamid" in command else last
        value = {"statuses": [status_of(target, command.get("status", "delivered"))]}
        phone_number_id = command.get("phone_number_id") or self._last_phone_number_id()
        outcome = await self.notify(f"signature_{mode}", phone_number_id, value, signature=mode)
        return web.json_response(outcome)

    async def control_verify(self, request: web.Request) -> web.Response:
        """{"verify_token", "challenge"}: Meta's subscription check, a GET on the notify URL."""
        command = await request.json()
        params = {
            "hub.mode": command.get("mode", "subscribe"),
            "hub.verify_token": command["verify_token"],
            "hub.challenge": command.get("challenge", str(secrets.randbelow(10**9))),
        }
        return web.json_response(await self._request("GET", "verify", 0, params=params))

    def _find(self, wamid: str) -> Sent:
        known = [sent for sent in self.sent if sent.wamid == wamid]
        return known[0] if known else Sent(wamid, "", UNKNOWN_RECIPIENT)

    def _last_phone_number_id(self) -> str:
        return self.sent[-1].phone_number_id if self.sent else "106540352242922"


def unknown() -> Sent:
    """A message this stand-in never sent: dlrhub must acknowledge and count its statuses."""
    return Sent(new_wamid(UNKNOWN_RECIPIENT), "", UNKNOWN_RECIPIENT)


def status_of(sent: Sent, status: str) -> dict[str, Any]:
    """One entry of `statuses`: what Meta puts in each status it reports."""
    entry: dict[str, Any] = {"id": sent.wamid, "status": status, "timestamp": now()}
    entry["recipient_id"] = sent.to
    if status in ("sent", "delivered"):
        conversation: dict[str, Any] = {"id": hashlib.sha256(sent.to.encode()).hexdigest()[:32]}
        if status == "sent":
            conversation["expiration_timestamp"] = str(int(time.time()) + 86400)
        entry["conversation"] = {**conversation, "origin": {"type": "service"}}
        entry["pricing"] = {
            "billable": False,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
    elif status == "failed":
        _, title, details = ERRORS[131026]
        entry["errors"] = [{"code": 131026, "title": title, "message": title}]
        entry["errors"][0]["error_data"] = {"details": details}
        entry["errors"][0]["href"] = ERROR_CODES_URL
    return entry


def media_object(kind: str, caption: str | None) -> dict[str, Any]:
    media: dict[str, Any] = {"mime_type": MEDIA_MIME.get(kind, "application/pdf")}
    media["sha256"] = base64.b64encode(secrets.token_bytes(32)).decode()
    media["id"] = str(10**15 + secrets.randbelow(10**15))
    if caption and kind in ("image", "video", "document"):
        media["caption"] = caption
    if kind == "document":
        media["filename"] = "document.pdf"
    return media


def envelope(phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    """The webhook body Meta posts: one entry, one change of field `messages`."""
    metadata = {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": phone_number_id}
    full = {"messaging_product": "whatsapp", "metadata": metadata, **value}
    change = {"value": full, "field": "messages"}
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [change]}]}


def make_app(standin: StandIn) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/_control/inbound", standin.control_inbound)
    app.router.add_post("/_control/batch", standin.control_batch)
    app.router.add_post("/_control/signature", standin.control_signature)
    app.router.add_post("/_control/verify", standin.control_verify)
    app.router.add_post("/{version}/{phone_number_id}/messages", standin.send)
    return app


async def serve(config: Config, stop: asyncio.Event) -> None:
    ssl_context = ssl.create_default_context(cafile=config.ca_file) if config.ca_file else None
    connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else True)
    timeout = aiohttp.ClientTimeout(total=30)
    standin = StandIn(config)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        standin.session = session
        runner = web.AppRunner(make_app(standin), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", config.port)
        await site.start()
        emit("listening", port=runner.addresses[0][1])
        try:
            await stop.wait()
        finally:
            for task in list(standin.tasks):
                task.cancel()
            await runner.cleanup()


def parse(argv: list[str] | None) -> tuple[Config, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", required=True, help="the bearer token the API accepts")
    parser.add_argument("--app-secret", required=True, help="signs the notifications")
    parser.add_argument("--notify-url", required=True, help="dlrhub's /carrier/v1/whatsapp")
    parser.add_argument("--ca-file", help="PEM roots to trust for an https notify URL")
    parser.add_argument("--status-delay-ms", type=int, default=20)
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="end when stdin closes (the test runner's pipe)",
    )
    args = parser.parse_args(argv)
    config = Config(
        args.token, args.app_secret, args.notify_url, args.port, args.ca_file, args.status_delay_ms
    )
    return config, bool(args.exit_on_stdin_eof)


def main(argv: list[str] | None = None) -> None:
    config, exit_on_eof = parse(argv)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):  # end cleanly, tasks cancelled
            loop.add_signal_handler(signum, stop.set)
        if exit_on_eof:
            # A test runner that dies closes the pipe: the stand-in must not outlive it.
            def watch() -> None:
                with contextlib.suppress(OSError, ValueError):
                    sys.stdin.read()
                loop.call_soon_threadsafe(stop.set)

            threading.Thread(target=watch, daemon=True).start()
        await serve(config, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
