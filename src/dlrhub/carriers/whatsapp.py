"""WhatsApp through Meta's Cloud API (SPEC §11.3): sends from the durable queue.

Each message leaves from its business number's Meta `phone_number_id`; the answer's `wamid`
is stored as the message's carrier id, which Meta's status notifications name
(services/provider_ingest.py applies them).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from dlrhub.carriers.http_submitter import SendResult
from dlrhub.domain.submission import SubmitAnswer
from dlrhub.domain.whatsapp import error_text, submit_answer
from dlrhub.services.accounts import AccountService
from dlrhub.services.submissions import AcceptedPart
from dlrhub.store.submissions import Submission


class WhatsAppSender:
    def __init__(self, *, api_url: str, token: str, accounts: AccountService) -> None:
        self._api_url = api_url.rstrip("/")
        self._token = token
        self._accounts = accounts

    async def send(self, client: aiohttp.ClientSession, submission: Submission) -> SendResult:
        message = submission.message
        number = message.phone_number_id or ""
        meta_id = (await self._accounts.meta_phone_number_ids([number])).get(number)
        if meta_id is None:
            return (
                SubmitAnswer.REFUSED,
                f"business number {number or '(none)'} has no Meta phone_number_id: register it "
                "with dlrhub accounts add-waba ACCOUNT NUMBER --meta-phone-number-id ID",
                (),
            )
        request = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.destination.removeprefix("+"),
            "type": "text",
            "text": {"body": message.body},
        }
        async with client.post(
            f"{self._api_url}/{meta_id}/messages",
            json=request,
            headers={"Authorization": f"Bearer {self._token}"},
        ) as response:
            status = response.status
            body = _json(await response.read())
        if 200 <= status < 300:
            wamid = _wamid(body)
            if wamid is None:
                # Accepted but unnamed: its statuses could never be matched. Trying again
                # would send it twice; an error the customer sees is the honest outcome.
                return SubmitAnswer.REFUSED, "WhatsApp accepted the message without an id", ()
            return SubmitAnswer.ACCEPTED, "", (AcceptedPart(0, wamid, wamid),)
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        answer = submit_answer(status, code if isinstance(code, int) else None)
        return answer, error_text(error, status), ()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None


def _wamid(body: Any) -> str | None:
    messages = body.get("messages") if isinstance(body, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = messages[0].get("id")
        if isinstance(wamid, str) and 0 < len(wamid.strip()) <= 100:
            return wamid.strip()
    return None
