"""The account's delivery-status webhook (SPEC §5)."""

from __future__ import annotations

from dlrhub.domain.clock import Clock
from dlrhub.domain.errors import Conflict, NotFound
from dlrhub.domain.row_ids import new_id
from dlrhub.domain.urlpolicy import UrlPolicy, check_callback_url
from dlrhub.store import webhooks as store
from dlrhub.store.database import Database
from dlrhub.store.errors import Duplicate
from dlrhub.store.records import WebhookRecord

NO_DELIVERY_STATUS_WEBHOOK = "no delivery-status webhook is configured for this account"


class DeliveryStatusWebhooks:
    def __init__(self, db: Database, clock: Clock, policy: UrlPolicy) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy

    async def get(self, account_id: str) -> WebhookRecord:
        async with self._db.reading() as conn:
            webhook = await store.delivery_status_webhook(conn, account_id)
        if webhook is None:
            raise NotFound(NO_DELIVERY_STATUS_WEBHOOK)
        return webhook

    async def create(self, account_id: str, callback_url: str) -> WebhookRecord:
        """Register the callback; a second one is a conflict, never a silent replacement."""
        check_callback_url(callback_url, self._policy)
        now = self._clock()
        conflict = Conflict(
            "a delivery-status webhook already exists; "
            "use PUT to change its URL or DELETE to remove it"
        )
        try:
            async with self._db.transaction() as conn:
                if await store.delivery_status_webhook(conn, account_id) is not None:
                    raise conflict
                await store.insert_webhook(
                    conn,
                    {
                        "id": new_id(),
                        "account_id": account_id,
                        "kind": store.DELIVERY_STATUS,
                        "url": callback_url,
                        "method": "JSON",
                        "parameters": {},
                        "custom_params": {},
                        "custom_headers": {},
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        except Duplicate as exc:
            # Two racing creates: the partial unique index lets exactly one win.
            raise conflict from exc
        return await self.get(account_id)

    async def update(self, account_id: str, callback_url: str) -> WebhookRecord:
        check_callback_url(callback_url, self._policy)
        async with self._db.transaction() as conn:
            webhook = await store.delivery_status_webhook(conn, account_id)
            if webhook is None:
                raise NotFound(NO_DELIVERY_STATUS_WEBHOOK)
            await store.update_webhook(
                conn, webhook.id, {"url": callback_url, "updated_at": self._clock()}
            )
        return await self.get(account_id)

    async def delete(self, account_id: str) -> None:
        async with self._db.transaction() as conn:
            webhook = await store.delivery_status_webhook(conn, account_id)
            if webhook is None:
                raise NotFound(NO_DELIVERY_STATUS_WEBHOOK)
            await store.delete_webhook(conn, webhook.id, self._clock())
