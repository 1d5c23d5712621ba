"""RCS through Google RCS Business Messaging (SPEC §11.4): sends from the durable queue.

The `messageId` of every send is the message's own id, stored as its carrier id: Google ignores
a repeated `messageId`, so a retry after a lost answer cannot send the message twice, and
Google's DELIVERED and READ events name it (services/provider_ingest.py applies them). Access
tokens come from the service-account key through google-auth (never hand-made JWTs).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import google.auth.exceptions
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from dlrhub.carriers.http_submitter import SendResult
from dlrhub.domain.errors import DlrhubError
from dlrhub.domain.rbm import SCOPE, error_text, submit_answer
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.services.submissions import AcceptedPart
from dlrhub.store.submissions import Submission


class CredentialsError(DlrhubError):
    """DLRHUB_RBM_CREDENTIALS is not a usable service-account key file."""

    status = 500
    title = "RBM credentials unusable"


class RbmTokens:
    """Access tokens for the RBM scope from a service-account key, refreshed before they end.
    google-auth's refresh is blocking (requests): it runs in a thread, one at a time."""

    def __init__(self, key_file: Path) -> None:
        try:
            self._credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(key_file), scopes=[SCOPE]
            )
        except (OSError, ValueError, KeyError) as exc:
            raise CredentialsError(
                f"DLRHUB_RBM_CREDENTIALS {key_file}: not a service-account key file ({exc})"
            ) from exc
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if not self._credentials.valid:
                await asyncio.to_thread(self._credentials.refresh, Request())
            return str(self._credentials.token)

    def forget(self) -> None:
        """The API refused the token (revoked, or our clock is off): get a new one next time."""
        self._credentials.token = None


class RbmSender:
    def __init__(self, *, api_url: str, agent_id: str, tokens: RbmTokens) -> None:
        self._api_url = api_url.rstrip("/")
        self._agent_id = agent_id
        self._tokens = tokens

    async def send(self, client: aiohttp.ClientSession, submission: Submission) -> SendResult:
        message = submission.message
        try:
            token = await self._tokens.token()
        except google.auth.exceptions.GoogleAuthError as exc:
            return SubmitAnswer.TRY_LATER, f"RBM access token: {exc}"[:500], ()
        url = f"{self._api_url}/phones/{quote(message.destination, safe='+')}/agentMessages"
        async with client.post(
            url,
            params={"messageId": message.id, "agentId": self._agent_id},
            json={"contentMessage": {"text": message.body}},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            status = response.status
            body = _json(await response.read())
        if status == 401:
            self._tokens.forget()
        answer = submit_answer(status)
        if answer is SubmitAnswer.ACCEPTED:
            return answer, "", (AcceptedPart(0, message.id, message.id),)
        return answer, error_text(body, status), ()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None
