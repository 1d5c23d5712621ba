"""The dashboard's session: a signed cookie holding the account and a CSRF token.

The cookie is signed (itsdangerous), HttpOnly, SameSite=Lax and scoped to `/dashboard`. It
never holds the API key: only the account id it authenticated, the CSRF token of the session
and, through the signature's timestamp, when it was issued. Every form carries the token and
every POST must echo it (a session-bound token); a visitor not yet signed in gets an anonymous
session so that the sign-in form is protected the same way.
"""

from __future__ import annotations

import hmac
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


@dataclass(frozen=True)
class Session:
    csrf_token: str
    account_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.account_id is not None


class SignInRequired(Exception):
    """The page needs a signed-in session."""


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


def new_session(account_id: str | None = None) -> Session:
    return Session(csrf_token=secrets.token_urlsafe(32), account_id=account_id)


class SessionCodec:
    """Reads and writes the session cookie with a secret that never leaves the process."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE_NAME)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=MAX_AGE_S)
        except BadSignature:  # also covers an expired signature
            return None
        if not isinstance(data, dict):
            return None
        csrf, account = data.get("c"), data.get("a")
        if not isinstance(csrf, str) or not csrf:
            return None
        if account is not None and not isinstance(account, str):
            return None
        return Session(csrf_token=csrf, account_id=account)

    def write(self, response: Response, session: Session, *, secure: bool) -> None:
        value = self._serializer.dumps({"c": session.csrf_token, "a": session.account_id})
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
    """The configured secret, or a random one for this process (sessions then end with it)."""
    return configured if configured else secrets.token_urlsafe(48)
