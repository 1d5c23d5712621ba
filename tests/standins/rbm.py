"""A stand-in for Google's RCS Business Messaging API, run as its own process for tests (issue 12):

    python -m tests.standins.rbm --port 0 --agent-id A --client-token C --key-file key.json \\
        --notify-url http://127.0.0.1:8000/carrier/v1/rbm [--ca-file ca.pem] \\
        [--event-delay-ms 20] [--exit-on-stdin-eof]

`POST /token` is Google's OAuth 2.0 token endpoint for service accounts (the JWT-bearer grant that
google-auth sends), checked against the public half of the key file's private key.
`POST /v1/phones/{E.164}/agentMessages?messageId=&agentId=` is `phones.agentMessages.create`;
accepted messages are followed by user events posted to the notify URL in Google's push shape
(`{"message": {"data": base64(event JSON), ...}, "subscription"}`, `X-Goog-Signature` = base64
HMAC-SHA512 keyed by the client token over the decoded data). By the phone's last two digits:

    sends:  01 404 NOT_FOUND (not RCS-capable)    04 403 PERMISSION_DENIED
            02 429 RESOURCE_EXHAUSTED twice per messageId, then accepted
            05 500 INTERNAL once per messageId, then accepted
    events: default DELIVERED, READ               07 READ, DELIVERED
            08 DELIVERED, DELIVERED, READ, READ (redeliveries: same eventId)
            06 IS_TYPING, DELIVERED, READ

Control, JSON over HTTP on the same port; those that post answer `{"http_status", "body"}` as the
notify URL answered (or `"error"`): `POST /_control/user_message`, `/_control/event`,
`/_control/verify`, `/_control/signature`, `/_control/revoke_tokens`.
Events go to stdout as JSON lines: `listening`, `token`, `send`, `notify`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["RBM_SCOPE", "Config", "StandIn", "main", "sign"]

RBM_SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google's token endpoint wants its own URL as the assertion's audience wherever the request was
# sent, and google-auth signs exactly this (not the key file's token_uri).
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
TOKEN_LIFETIME_S = 3600
MAX_ASSERTION_LIFETIME_S = 3600  # "Token must be a short-lived token (60 minutes)"
CLOCK_SKEW_S = 60
EVENT_ORDERS = {
    "06": ("IS_TYPING", "DELIVERED", "READ"),
    "07": ("READ", "DELIVERED"),
    "08": ("DELIVERED", "DELIVERED", "READ", "READ"),
}
DEFAULT_ORDER = ("DELIVERED", "READ")
USER_CONTENT = ("text", "userFile", "location", "suggestionResponse")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential."
)
SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


@dataclass(frozen=True)
class Config:
    port: int
    agent_id: str
    client_token: str
    notify_url: str
    key_file: Path
    ca_file: str | None
    event_delay_ms: float


class GrantRefused(Exception):
    """The assertion is not one Google would exchange for a token; the text is Google's."""


def rfc3339() -> str:
    """Now, as Google writes timestamps: UTC, 'Z', nine fractional digits."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def sign(data: bytes, client_token: str) -> str:
    """X-Goog-Signature: base64 HMAC-SHA512 of the decoded `message.data` bytes."""
    return base64.b64encode(hmac.new(client_token.encode(), data, hashlib.sha512).digest()).decode()


def google_error(code: int, status: str, message: str) -> web.Response:
    """Google's error object (google.rpc.Status as JSON)."""
    body = {"error": {"code": code, "message": message, "status": status}}
    return web.json_response(body, status=code)


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(
    assertion: str, key: rsa.RSAPublicKey, email: str, key_id: str | None, now: float
) -> dict[str, Any]:
    """The claims of an RS256 JWT signed by the service account's key, or GrantRefused."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise GrantRefused("Invalid JWT: malformed assertion.")
    try:
        header, claims = json.loads(_b64url(parts[0])), json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise GrantRefused("Invalid JWT: malformed assertion.") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise GrantRefused("Invalid JWT: malformed assertion.")
    if header.get("alg") != "RS256" or header.get("kid", key_id) != key_id:
        raise GrantRefused("Invalid JWT Signature.")
    try:
        signed = f"{parts[0]}.{parts[1]}".encode()
        key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise GrantRefused("Invalid JWT Signature.") from exc
    if claims.get("iss") != email:
        raise GrantRefused("Invalid grant: account not found")
    if claims.get("aud") != TOKEN_AUDIENCE:
        raise GrantRefused(
            f"Invalid JWT: Failed audience check. The right audience is {TOKEN_AUDIENCE}"
        )
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise GrantRefused(SHORT_LIVED)
    if exp < now - CLOCK_SKEW_S or iat > now + CLOCK_SKEW_S or exp - iat > MAX_ASSERTION_LIFETIME_S:
        raise GrantRefused(SHORT_LIVED)
    return claims


@dataclass
class StandIn:
    config: Config
    tokens: dict[str, tuple[frozenset[str], float]] = field(default_factory=dict)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # messageId → resource
    attempts: dict[str, int] = field(default_factory=dict)  # messageId → refused so far
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        key_info = json.loads(self.config.key_file.read_text())
        private = serialization.load_pem_private_key(key_info["private_key"].encode(), None)
        assert isinstance(private, rsa.RSAPrivateKey), "the key file must hold an RSA key"
        self.public_key = private.public_key()
        self.client_email: str = key_info["client_email"]
        self.key_id: str | None = key_info.get("private_key_id")
        # Google's examples show the agent as "<id>@rbm.goog" in what it posts.
        self.agent = self.config.agent_id.partition("@")[0] + "@rbm.goog"

    @staticmethod
    def emit(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, **fields}), flush=True)

    # -- OAuth 2.0 ------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant, assertion = form.get("grant_type"), form.get("assertion")
        if grant != JWT_BEARER:
            shown = grant if isinstance(grant, str) else ""
            return self._refuse_grant("unsupported_grant_type", f"Invalid grant_type: {shown}")
        if not isinstance(assertion, str):
            return self._refuse_grant("invalid_request", "Missing required parameter: assertion")
        try:
            claims = verify_assertion(
                assertion, self.public_key, self.client_email, self.key_id, time.time()
            )
        except GrantRefused as exc:
            return self._refuse_grant("invalid_grant", str(exc))
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            return self._refuse_grant("invalid_scope", "Invalid OAuth scope or ID token audience.")
        access_token = "ya29." + secrets.token_urlsafe(48)
        self.tokens[access_token] = (scopes, time.time() + TOKEN_LIFETIME_S)
        self.emit("token", ok=True, reason=None, scopes=sorted(scopes))
        body = {
            "access_token": access_token,
            "expires_in": TOKEN_LIFETIME_S,
            "token_type": "Bearer",
        }
        return web.json_response(body)

    def _refuse_grant(self, error: str, description: str) -> web.Response:
        self.emit("token", ok=False, reason=f"{error}: {description}")
        return web.json_response({"error": error, "error_description": description}, status=400)

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        found = self.tokens.get(value) if scheme.lower() == "bearer" else None
        if found is None or found[1] < time.time():
            response = google_error(401, "UNAUTHENTICATED", UNAUTHENTICATED)
            response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
            return response
        if RBM_SCOPE not in found[0]:
            return google_error(403, "PERMISSION_DENIED", "Request had insufficient scopes.")
        return None

    # -- phones.agentMessages.create --------------------------------------------------------

    async def send(self, request: web.Request) -> web.Response:
        phone = request.match_info["phone"]
        message_id = request.query.get("messageId", "")
        response = self._unauthorized(request) or await self._refusal(request, phone, message_id)
        if response is None:
            duplicate = message_id in self.accepted
            if not duplicate:
                self.accepted[message_id] = await self._accept(request, phone, message_id)
            response = web.json_response(self.accepted[message_id])
        else:
            duplicate = False
        self.emit(
            "send",
            phone=phone,
            message_id=message_id,
            text=self.accepted.get(message_id, {}).get("contentMessage", {}).get("text"),
            http_status=response.status,
            duplicate=duplicate,
        )
        return response

    async def _refusal(
        self, request: web.Request, phone: str, message_id: str
    ) -> web.Response | None:
        """Google's answer when this send is not accepted; None when it is."""
        if not E164.fullmatch(phone):
            return google_error(400, "INVALID_ARGUMENT", f"Invalid phone number: {phone}")
        try:
            uuid.UUID(message_id)
        except ValueError:
            return google_error(400, "INVALID_ARGUMENT", "messageId must be a UUID.")
        if request.query.get("agentId") != self.config.agent_id:
            return google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        if message_id in self.accepted:
            return None  # Google ignores a reused messageId: nothing below applies again
        try:
            body = await request.json()
        except ValueError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        content = body.get("contentMessage") if isinstance(body, dict) else None
        if not isinstance(content, dict) or not isinstance(content.get("text"), str):
            return google_error(400, "INVALID_ARGUMENT", "contentMessage.text is required.")
        suffix, tries = phone[-2:], self.attempts.get(message_id, 0)
        if suffix == "01":
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if suffix == "04":
            return google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        if (suffix, tries) in {("02", 0), ("02", 1), ("05", 0)}:
            self.attempts[message_id] = tries + 1
            if suffix == "05":
                return google_error(500, "INTERNAL", "Internal error encountered.")
            return google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric.")
        return None

    async def _accept(self, request: web.Request, phone: str, message_id: str) -> dict[str, Any]:
        task = asyncio.get_running_loop().create_task(self._events_after_send(phone, message_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return {
            "name": f"phones/{phone}/agentMessages/{message_id}",
            "sendTime": rfc3339(),
            "contentMessage": (await request.json())["contentMessage"],
        }

    async def _events_after_send(self, phone: str, message_id: str) -> None:
        event_ids: dict[str, str] = {}  # a redelivery carries the same eventId
        for event_type in EVENT_ORDERS.get(phone[-2:], DEFAULT_ORDER):
            await asyncio.sleep(self.config.event_delay_ms / 1000)
            event_id = event_ids.setdefault(event_type, "Ms" + secrets.token_urlsafe(16))
            await self.post_event(self.user_event(phone, event_type, message_id, event_id))

    # -- what Google posts ------------------------------------------------------------------

    def user_event(
        self, phone: str, event_type: str, message_id: str | None, event_id: str | None = None
    ) -> dict[str, Any]:
        """A UserEvent; messageId only for DELIVERED and READ, as the reference says."""
        event: dict[str, Any] = {
            "senderPhoneNumber": phone,
            "eventType": event_type,
            "eventId": event_id or "Ms" + secrets.token_urlsafe(16),
            "sendTime": rfc3339(),
            "agentId": self.agent,
        }
        if message_id is not None and event_type in ("DELIVERED", "READ"):
            event["messageId"] = message_id
        return event

    async def post_event(self, data: dict[str, Any], signature: str = "right") -> dict[str, Any]:
        """Post one event in Google's push shape; `signature` right, wrong or missing."""
        raw = json.dumps(data).encode()
        pubsub_id, published = str(secrets.randbelow(10**16)), rfc3339()
        envelope = {
            "message": {
                "data": base64.b64encode(raw).decode(),
                "messageId": pubsub_id,
                "message_id": pubsub_id,
                "publishTime": published,
                "publish_time": published,
            },
            "subscription": f"projects/rbm-{self.config.agent_id}/subscriptions/rbm-agent",
        }
        headers = {"Content-Type": "application/json"}
        if signature != "missing":
            key = self.config.client_token if signature == "right" else "not-the-client-token"
            headers["X-Goog-Signature"] = sign(raw, key)
        kind = data.get("eventType") or next((k for k in USER_CONTENT if k in data), "message")
        extra = {"message_id": data.get("messageId"), "event_id": data.get("eventId")}
        return await self.notify(kind, json.dumps(envelope).encode(), headers, extra)

    async def notify(
        self, kind: str, body: bytes, headers: dict[str, str], extra: dict[str, Any]
    ) -> dict[str, Any]:
        """POST to the notify URL; never raises: a refusal or an outage is reported."""
        assert self.session is not None
        started = time.monotonic()
        result: dict[str, Any]
        try:
            async with self.session.post(self.config.notify_url, data=body, headers=headers) as r:
                result = {"http_status": r.status, "body": await r.text()}
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            result = {"http_status": None, "error": f"{type(exc).__name__}: {exc}"}
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        self.emit("notify", kind=kind, elapsed_ms=elapsed_ms, **extra, **result)
        return result

    # -- control ----------------------------------------------------------------------------

    async def control(self, request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        name = request.match_info["name"]
        handler = {
            "user_message": self._user_message,
            "event": self._event,
            "verify": self._verify,
            "signature": self._signature,
            "revoke_tokens": self._revoke_tokens,
        }.get(name)
        if handler is None or not isinstance(body, dict):
            return web.json_response({"error": f"no such control: {name}"}, status=404)
        try:
            return web.json_response(await handler(body))
        except (KeyError, ValueError) as exc:
            return web.json_response({"error": f"bad control body: {exc!r}"}, status=400)

    async def _user_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """A UserMessage: `{"from", and one of text, userFile, location, suggestionResponse}`."""
        content = {k: body[k] for k in USER_CONTENT if k in body}
        if len(content) != 1:
            raise ValueError(f"exactly one of {USER_CONTENT}")
        data = {
            "senderPhoneNumber": body["from"],
            "messageId": body.get("messageId") or "MxUser" + secrets.token_urlsafe(16),
            "sendTime": rfc3339(),
            "agentId": self.agent,
            **content,
        }
        return {**await self.post_event(data), "data": data}

    async def _event(self, body: dict[str, Any]) -> dict[str, Any]:
        """Any UserEvent: `{"phone", "eventType", "messageId"?, "eventId"?, "signature"?}`."""
        data = self.user_event(
            body["phone"], body["eventType"], body.get("messageId"), body.get("eventId")
        )
        return {**await self.post_event(data, body.get("signature", "right")), "data": data}

    async def _verify(self, body: dict[str, Any]) -> dict[str, Any]:
        """Google's webhook verification request (unsigned): `{"clientToken", "secret"}`."""
        secret = str(body.get("secret") or secrets.randbelow(10**10))
        payload = {
            "clientToken": body.get("client_token", self.config.client_token),
            "secret": secret,
        }
        headers = {"Content-Type": "application/json"}
        result = await self.notify("verify", json.dumps(payload).encode(), headers, {})
        return {**result, "secret": secret}

    async def _signature(self, body: dict[str, Any]) -> dict[str, Any]:
        """One DELIVERED event signed wrongly or not at all: `{"mode", "phone"?, "messageId"?}`."""
        if body["mode"] not in ("wrong", "missing"):
            raise ValueError("mode must be wrong or missing")
        phone, message_id = body.get("phone", "+15550000000"), body.get("messageId")
        event = {"phone": phone, "eventType": "DELIVERED", "signature": body["mode"]}
        return await self._event({**event, "messageId": message_id or str(uuid.uuid4())})

    async def _revoke_tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        """Forget every issued token, as when Google revokes them: the next send gets 401."""
        revoked = len(self.tokens)
        self.tokens.clear()
        return {"revoked": revoked}


def build_app(standin: StandIn) -> web.Application:
    app = web.Application()
    app.router.add_post("/token", standin.token)
    app.router.add_post("/v1/phones/{phone}/agentMessages", standin.send)
    app.router.add_post("/_control/{name}", standin.control)
    return app


async def serve(config: Config, exit_on_stdin_eof: bool) -> None:
    standin = StandIn(config)
    ssl_context = ssl.create_default_context(cafile=config.ca_file) if config.ca_file else None
    standin.session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=ssl_context if ssl_context else True),
        timeout=aiohttp.ClientTimeout(total=10),
    )
    runner = web.AppRunner(build_app(standin), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", config.port)
    await site.start()
    port = runner.addresses[0][1]
    standin.emit("listening", port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if exit_on_stdin_eof:
        # A daemon thread, so that a stop by signal never waits for stdin.
        def wait_for_eof() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=wait_for_eof, daemon=True).start()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for task in list(standin.tasks):
            task.cancel()
        await standin.session.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.standins.rbm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--agent-id", required=True)
    parser.add_argument("--client-token", required=True)
    parser.add_argument("--notify-url", required=True)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--ca-file")
    parser.add_argument("--event-delay-ms", type=float, default=20.0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = vars(parser.parse_args(argv))
    exit_on_stdin_eof = args.pop("exit_on_stdin_eof")
    asyncio.run(serve(Config(**args), exit_on_stdin_eof))


if __name__ == "__main__":
    main()
