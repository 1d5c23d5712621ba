"""Richer webhooks (SPEC §8): manage them, and test a configuration against its endpoint.

The API and the dashboard both build a `WebhookSpec` and call this service, so the rules
(domain/webhook_rules.py) and the request formats (domain/formats.py) live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.delivery.requests import USER_AGENT
from dlrhub.delivery.shared import SharedClient
from dlrhub.domain.errors import NotFound
from dlrhub.domain.formats import custom_request, sample_report
from dlrhub.domain.ids import new_id
from dlrhub.domain.urlpolicy import UrlPolicy
from dlrhub.domain.webhook_rules import (
    WebhookSpec,
    check_webhook,
    normalized,
    required_parameters,
)
from dlrhub.services.signals import Clock
from dlrhub.store import accounts as account_store
from dlrhub.store import webhooks as store
from dlrhub.store.database import Database
from dlrhub.store.records import WebhookRecord

__all__ = [
    "CustomWebhooks",
    "TestResult",
    "WebhookSpec",
    "required_parameters",
    "spec_of",
]

TEST_RESPONSE_BODY_BYTES = 4096


@dataclass(frozen=True)
class TestResult:
    """What `test` sent, and what came back (or why nothing did)."""

    __test__ = False  # not a pytest test class

    request: dict[str, object]  # {"method", "url", "headers", "body"}
    response: dict[str, object] | None  # {"status", "headers", "body", "durationMs"}
    error: str | None


def spec_of(webhook: WebhookRecord) -> WebhookSpec:
    """The configuration of a saved webhook, as a client would send it."""
    return WebhookSpec(
        product=webhook.product or "",
        report_type=webhook.report_type or "",
        method=webhook.method,
        url=webhook.url,
        waba_number=webhook.waba_number,
        parameters=dict(webhook.parameters),
        custom_params=dict(webhook.custom_params),
        custom_headers=dict(webhook.custom_headers),
    )


def _columns(spec: WebhookSpec) -> dict[str, Any]:
    return {
        "url": spec.url,
        "product": spec.product,
        "report_type": spec.report_type,
        "method": spec.method,
        "waba_number": spec.waba_number,
        "parameters": dict(spec.parameters),
        "custom_params": dict(spec.custom_params),
        "custom_headers": dict(spec.custom_headers),
    }


def _not_found(webhook_id: str) -> NotFound:
    return NotFound(f"no webhook with id {webhook_id!r}")


class CustomWebhooks:
    def __init__(self, db: Database, clock: Clock, policy: UrlPolicy, http: SharedClient) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy
        self._http = http

    def required_parameters(self, product: str, report_type: str) -> list[str]:
        return required_parameters(product, report_type)

    async def list(self, account_id: str) -> list[WebhookRecord]:
        async with self._db.reading() as conn:
            return await store.custom_webhooks(conn, account_id)

    async def get(self, account_id: str, webhook_id: str) -> WebhookRecord:
        async with self._db.reading() as conn:
            webhook = await store.custom_webhook(conn, account_id, webhook_id)
        if webhook is None:
            raise _not_found(webhook_id)
        return webhook

    async def _check(self, conn: AsyncConnection, account_id: str, spec: WebhookSpec) -> None:
        numbers = {number for number, _ in await account_store.list_waba_numbers(conn, account_id)}
        check_webhook(spec, waba_numbers=numbers, policy=self._policy)

    async def create(self, account_id: str, spec: WebhookSpec) -> WebhookRecord:
        spec = normalized(spec)
        webhook_id = new_id()
        now = self._clock()
        async with self._db.transaction() as conn:
            await self._check(conn, account_id, spec)
            values = {
                "id": webhook_id,
                "account_id": account_id,
                "kind": store.CUSTOM,
                "created_at": now,
                "updated_at": now,
                **_columns(spec),
            }
            await store.insert_webhook(conn, values)
            created = await store.custom_webhook(conn, account_id, webhook_id)
        assert created is not None
        return created

    async def update(self, account_id: str, webhook_id: str, spec: WebhookSpec) -> WebhookRecord:
        """Replace the whole configuration; effective for the next event. Editing a webhook
        that was disabled for failing enables it again."""
        spec = normalized(spec)
        async with self._db.transaction() as conn:
            if await store.custom_webhook(conn, account_id, webhook_id) is None:
                raise _not_found(webhook_id)
            await self._check(conn, account_id, spec)
            values = {
                **_columns(spec),
                "updated_at": self._clock(),
                "disabled_at": None,
                "disabled_reason": None,
                "failing_since": None,
            }
            await store.update_webhook(conn, webhook_id, values)
            updated = await store.custom_webhook(conn, account_id, webhook_id)
        assert updated is not None
        return updated

    async def delete(self, account_id: str, webhook_id: str) -> None:
        async with self._db.transaction() as conn:
            if await store.custom_webhook(conn, account_id, webhook_id) is None:
                raise _not_found(webhook_id)
            await store.delete_webhook(conn, webhook_id, self._clock())

    async def test(self, account_id: str, spec: WebhookSpec) -> TestResult:
        """Send a sample event of this configuration's own format, signed with the account's
        secret, and report what was sent and what came back. Network failures (refused,
        timed out, TLS) are a readable `error`, never an exception."""
        spec = normalized(spec)
        now = self._clock()
        async with self._db.reading() as conn:
            await self._check(conn, account_id, spec)
            secrets = await account_store.live_secrets(conn, [account_id], now)
        sample_id = new_id()
        request = custom_request(
            method=spec.method,
            url=spec.url,
            report_type=spec.report_type,
            report=sample_report(spec.report_type, sample_id=sample_id, now=now),
            parameters=spec.parameters,
            custom_params=spec.custom_params,
            custom_headers=spec.custom_headers,
            event_id=sample_id,
            secrets=[secret for secret, _, _ in secrets.get(account_id, [])],
            timestamp=int(now.timestamp()),
            user_agent=USER_AGENT,
        )
        async with self._http.session() as client:
            result = await client.send(request, keep_body=TEST_RESPONSE_BODY_BYTES)
        response: dict[str, object] | None = None
        if result.status is not None:
            response = {
                "status": result.status,
                "headers": result.headers,
                "body": result.body[:TEST_RESPONSE_BODY_BYTES].decode("utf-8", "replace"),
                "durationMs": result.duration_ms,
            }
        sent: dict[str, object] = {
            "method": request.method,
            "url": request.url,
            "headers": dict(request.headers),
            "body": request.body.decode("utf-8", "replace"),
        }
        return TestResult(request=sent, response=response, error=result.error)
