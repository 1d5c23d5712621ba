"""The dashboard's session cookie: a server session's token, or an anonymous signed session.

Signed in, the cookie holds only a random token; the session itself (account, API key, CSRF
token, expiry) lives in the database (`services.sessions`), so signing out and revoking the key
end it everywhere. Before sign-in, the cookie is a signed (itsdangerous) anonymous session that
holds only a CSRF token, so that the sign-in form is protected like every other form: it grants
nothing, and an account in it is ignored (cookies signed before sessions moved to the server
are not sessions any more).

The two are told apart by shape: a signed value always contains dots, a token never does.
Either way the cookie is HttpOnly, SameSite=Lax, scoped to `/dashboard`, and Secure outside
`--dev`. Every form carries the session's CSRF token and every POST must echo it.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "dlrhub_session"
COOKIE_PATH = "/dashboard"
CSRF_FIELD = "csrf_token"
MAX_AGE_S = 12 * 3600
_SALT = "dlrhub.dashboard.session"
# secrets.token_urlsafe(32): 43 URL-safe characters, never a dot.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Session:
    csrf_token: str
    account_id: str | None = None
    # The server session's token (signed in only): what signing out deletes.
    token: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.account_id is not None


class SignInRequired(Exception):
    """The page needs a signed-in session."""


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


def new_session() -> Session:
    """An anonymous session: a fresh CSRF token for the sign-in form."""
    return Session(csrf_token=secrets.token_urlsafe(32))


class SessionCodec:
    """Reads and writes the session cookie; anonymous sessions are signed with a secret that
    never leaves the process."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)

    @staticmethod
    def token(request: Request) -> str | None:
        """The server session token the cookie holds, if it holds one."""
        raw = request.cookies.get(COOKIE_NAME)
        return raw if raw and _TOKEN.fullmatch(raw) else None

    def read_anonymous(self, request: Request) -> Session | None:
        """The anonymous session of a signed cookie (never signed in, whatever it says)."""
        raw = request.cookies.get(COOKIE_NAME)
        if not raw or "." not in raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=MAX_AGE_S)
        except BadSignature:  # also covers an expired signature
            return None
        csrf = data.get("c") if isinstance(data, dict) else None
        if not isinstance(csrf, str) or not csrf:
            return None
        return Session(csrf_token=csrf)

    def write_anonymous(self, response: Response, session: Session, *, secure: bool) -> None:
        self._set(response, self._serializer.dumps({"c": session.csrf_token}), secure=secure)

    def write_token(self, response: Response, token: str, *, secure: bool) -> None:
        self._set(response, token, secure=secure)

    @staticmethod
    def _set(response: Response, value: str, *, secure: bool) -> None:
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=MAX_AGE_S,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=secure,
        )

    @staticmethod
    def clear(response: Response, *, secure: bool) -> None:
        response.delete_cookie(
            COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="lax", secure=secure
        )


def check_csrf(session: Session | None, submitted: object) -> None:
    """Refuse unless `submitted` is this session's token (compared in constant time)."""
    if session is None or not isinstance(submitted, str) or not submitted:
        raise CsrfRefused
    if not hmac.compare_digest(session.csrf_token.encode(), submitted.encode()):
        raise CsrfRefused


def process_secret(configured: str | None) -> str:
    """The configured secret, or a random one for this process (anonymous sessions then end
    with it; signed-in sessions live in the database and are shared by every process)."""
    return configured if configured else secrets.token_urlsafe(48)
