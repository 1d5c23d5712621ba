"""Catch-up after an outage (issue 13, docs/catch-up.md): the account's events in the order
they were committed, each with the payload its webhook was sent, behind a stable cursor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dlrhub.api.deps import AccountId, HubDep, problems
from dlrhub.domain.timestamps import format_timestamp
from dlrhub.services.event_feed import DEFAULT_LIMIT, MAX_LIMIT, EventPage, FeedEvent

router = APIRouter(prefix="/api/partner-gateway/v1", tags=["events"])


class FeedItem(BaseModel):
    cursor: str = Field(description="Pass as ?after= to resume after this event.")
    eventId: str = Field(description="The webhook-id its deliveries were sent with.")
    eventType: str = Field(description="DELIVERY, READ or INBOUND.")
    messageId: str | None = Field(description="Its message; null for INBOUND events.")
    createdAt: str
    payload: dict[str, Any] = Field(description="The body its webhook was sent (SPEC §6).")

    @classmethod
    def of(cls, event: FeedEvent) -> FeedItem:
        return cls(
            cursor=event.cursor,
            eventId=event.event_id,
            eventType=event.event_type,
            messageId=event.message_id,
            createdAt=format_timestamp(event.created_at),
            payload=event.payload,
        )


class FeedPage(BaseModel):
    events: list[FeedItem]
    nextCursor: str | None = Field(
        description="Pass as ?after= for the next page: the last event's cursor, or the "
        "given one when there is nothing new (null only when nothing was ever listed)."
    )

    @classmethod
    def of(cls, page: EventPage) -> FeedPage:
        return cls(events=[FeedItem.of(e) for e in page.events], nextCursor=page.next_cursor)


@router.get(
    "/events",
    response_model=FeedPage,
    summary="The account's events in commit order, to catch up after an outage",
    description="Events appear here shortly after they are created (once a worker has given "
    "them their place, within about a poll interval). Every event appears exactly once, in "
    "the same order on every read: keep the last nextCursor and pass it as `after`.",
    responses=problems(400, 401),
)
async def list_events(
    account_id: AccountId,
    hub: HubDep,
    after: Annotated[
        str | None, Query(description="A cursor from this API; absent: from the first event.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> FeedPage:
    return FeedPage.of(await hub.event_feed.page(account_id, after, limit))
