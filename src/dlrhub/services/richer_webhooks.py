"""Richer webhooks (SPEC §8): manage them, and test a configuration against its endpoint.

The API and the dashboard both build a `WebhookSpec` and call this service, so the rules
(domain/webhook_rules.py) and the request formats (domain/formats.py) live in one place.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dlrhub.domain import limits
from dlrhub.domain.clock import Clock
from dlrhub.domain.errors import LimitReached, NotFound, RateLimited
from dlrhub.domain.formats import richer_request, sample_values
from dlrhub.domain.row_ids import new_id
from dlrhub.domain.urlpolicy import UrlPolicy
from dlrhub.domain.webhook_rules import (
    WebhookSpec,
    check_webhook,
    normalized,
    required_parameters,
)
from dlrhub.outbound.client import USER_AGENT
from dlrhub.outbound.pool import SharedClient
from dlrhub.store import accounts as account_store
from dlrhub.store import webhooks as store
from dlrhub.store.database import Database
from dlrhub.store.records import WebhookRecord

__all__ = [
    "RicherWebhooks",
    "TestGate",
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
        ordering=webhook.ordering,
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
        "ordering": spec.ordering,
    }


def _not_found(webhook_id: str) -> NotFound:
    return NotFound(f"no webhook with id {webhook_id!r}")


class TestGate:
    """Admits an account's "test webhook" calls under its limits (SPEC §14, domain/limits.py).

    The counts live in this process only: with several API processes, each allows the
    limits on its own. That is acceptable: what the limits protect is this process's test
    pool (its own, like the counts) and the endpoints tests are aimed at, which N processes
    can only hit N times as hard, and a shared counter would put a database write in front
    of every test."""

    __test__ = False  # not a pytest test class

    _SWEEP_ABOVE = 1024  # accounts remembered before idle ones are forgotten

    def __init__(
        self, test_limits: limits.TestLimits, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = test_limits
        self._monotonic = monotonic
        self._usage: dict[str, limits.TestUsage] = {}

    def check(self, account_id: str) -> None:
        """Raise `RateLimited` if the account could not start a test now: lets a refused call
        stop before any database work (it is checked again, for real, by `slot`)."""
        usage = self._usage.get(account_id, limits.TestUsage())
        verdict = limits.admit_test(usage, self._monotonic(), self._limits)
        if isinstance(verdict, limits.Refusal):
            raise _refused(verdict)

    @asynccontextmanager
    async def slot(self, account_id: str) -> AsyncIterator[None]:
        """Hold one of the account's test slots for the block, or raise `RateLimited`."""
        now = self._monotonic()
        if len(self._usage) > self._SWEEP_ABOVE:
            self._sweep(now)
        verdict = limits.admit_test(
            self._usage.get(account_id, limits.TestUsage()), now, self._limits
        )
        if isinstance(verdict, limits.Refusal):
            raise _refused(verdict)
        # No await between the check and this update: concurrent calls cannot both pass.
        self._usage[account_id] = verdict
        try:
            yield
        finally:
            usage = limits.finish_test(self._usage[account_id], now, self._monotonic())
            if usage.idle:
                del self._usage[account_id]
            else:
                self._usage[account_id] = usage

    def _sweep(self, now: float) -> None:
        for account_id, usage in list(self._usage.items()):
            pruned = limits.prune(usage, now)
            if pruned.idle:
                del self._usage[account_id]
            else:
                self._usage[account_id] = pruned


def _refused(refusal: limits.Refusal) -> RateLimited:
    if refusal.limit == limits.TEST_RATE:
        what = f"at most {refusal.value} webhook tests per minute per account"
    else:
        what = f"at most {refusal.value} webhook tests at once per account"
    return RateLimited(
        f"{what} ({refusal.limit} = {refusal.value}); retry in {refusal.retry_after_s} s",
        limit=refusal.limit,
        value=refusal.value,
        retry_after_s=refusal.retry_after_s,
    )


class RicherWebhooks:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: UrlPolicy,
        http: SharedClient,
        *,
        max_webhooks: int,
        tests: TestGate,
    ) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy
        # The "test webhook" pool (wiring/hub.py), never the dispatcher's.
        self._http = http
        self._max_webhooks = max_webhooks
        self._tests = tests

    async def list(self, account_id: str) -> list[WebhookRecord]:
        async with self._db.reading() as conn:
            return await store.richer_webhooks(conn, account_id)

    async def get(self, account_id: str, webhook_id: str) -> WebhookRecord:
        async with self._db.reading() as conn:
            webhook = await store.richer_webhook(conn, account_id, webhook_id)
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
            await self._check_room(conn, account_id)
            values = {
                "id": webhook_id,
                "account_id": account_id,
                "kind": store.RICHER,
                "created_at": now,
                "updated_at": now,
                **_columns(spec),
            }
            await store.insert_webhook(conn, values)
            created = await store.richer_webhook(conn, account_id, webhook_id)
        assert created is not None
        return created

    async def _check_room(self, conn: AsyncConnection, account_id: str) -> None:
        """SPEC §14: at most `max_webhooks` live richer webhooks. Counted inside the creating
        transaction, with the account locked, so that concurrent creates cannot both pass."""
        live = await store.count_richer_webhooks_locked(conn, account_id)
        if limits.webhooks_over_limit(live, self._max_webhooks):
            raise LimitReached(
                f"an account may have at most {self._max_webhooks} richer webhooks "
                f"({limits.WEBHOOKS} = {self._max_webhooks}); delete one to add another",
                limit=limits.WEBHOOKS,
                value=self._max_webhooks,
            )

    async def update(self, account_id: str, webhook_id: str, spec: WebhookSpec) -> WebhookRecord:
        """Replace the whole configuration; effective for the next event. Editing a webhook
        that was disabled for failing enables it again."""
        spec = normalized(spec)
        async with self._db.transaction() as conn:
            if await store.richer_webhook(conn, account_id, webhook_id) is None:
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
            updated = await store.richer_webhook(conn, account_id, webhook_id)
        assert updated is not None
        return updated

    async def delete(self, account_id: str, webhook_id: str) -> None:
        async with self._db.transaction() as conn:
            if await store.richer_webhook(conn, account_id, webhook_id) is None:
                raise _not_found(webhook_id)
            await store.delete_webhook(conn, webhook_id, self._clock())

    async def test(self, account_id: str, spec: WebhookSpec) -> TestResult:
        """Send a sample event of this configuration's own format, signed with the account's
        secret, and report what was sent and what came back. Network failures (refused,
        timed out, TLS) are a readable `error`, never an exception."""
        self._tests.check(account_id)
        spec = normalized(spec)
        now = self._clock()
        async with self._db.reading() as conn:
            await self._check(conn, account_id, spec)
            secrets = await account_store.live_secrets(conn, [account_id], now)
        sample_id = new_id()
        request = richer_request(
            method=spec.method,
            url=spec.url,
            report_type=spec.report_type,
            values=sample_values(spec.report_type, sample_id=sample_id, now=now),
            parameters=spec.parameters,
            custom_params=spec.custom_params,
            custom_headers=spec.custom_headers,
            event_id=sample_id,
            secrets=[secret for secret, _, _ in secrets.get(account_id, [])],
            timestamp=int(now.timestamp()),
            user_agent=USER_AGENT,
        )
        async with self._tests.slot(account_id), self._http.session() as client:
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
