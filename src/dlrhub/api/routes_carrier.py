"""Carrier side (SPEC §11): upstream carriers and SMPP bridges report outcomes and replies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field, StrictStr

from dlrhub.api.deps import HubDep, problems
from dlrhub.domain.carrier import outcome_of_report
from dlrhub.domain.status import Channel

router = APIRouter(prefix="/carrier/v1", tags=["carrier"])


class DlrReport(BaseModel):
    messageId: StrictStr = Field(description="The platform's message id (from the send response).")
    status: StrictStr | None = Field(default=None, description="DELIVERED, ERROR, EXPIRED, READ.")
    receipt: StrictStr | None = Field(
        default=None, description="An SMPP receipt text (`id:… stat:DELIVRD err:000 …`)."
    )
    error: StrictStr | None = Field(default=None, description="The carrier's error text.")


class DlrAccepted(BaseModel):
    applied: bool = Field(description="false: intermediate, late or repeated (a no-op).")


class CarrierInbound(BaseModel):
    source: StrictStr
    destination: StrictStr = Field(description="The business number replied to.")
    channel: Channel
    text: StrictStr


class InboundAccepted(BaseModel):
    eventId: str


async def carrier_name(hub: HubDep, authorization: Annotated[str | None, Header()] = None) -> str:
    return hub.carrier.authenticate(authorization)


Carrier = Annotated[str, Depends(carrier_name)]


@router.post(
    "/dlr",
    response_model=DlrAccepted,
    summary="Report a message's outcome",
    description="200 once the status change, its event and its deliveries are committed.",
    responses=problems(400, 401, 404, 413),
)
async def report_dlr(report: DlrReport, _carrier: Carrier, hub: HubDep) -> DlrAccepted:
    outcome = outcome_of_report(status=report.status, receipt=report.receipt, error=report.error)
    applied = await hub.carrier.report(report.messageId, outcome)
    return DlrAccepted(applied=applied)


@router.post(
    "/inbound",
    response_model=InboundAccepted,
    summary="Report a reply to a business number",
    responses=problems(400, 401, 404, 413),
)
async def report_inbound(
    inbound: CarrierInbound, _carrier: Carrier, hub: HubDep
) -> InboundAccepted:
    event_id = await hub.carrier.inbound(
        source=inbound.source,
        destination=inbound.destination,
        channel=inbound.channel,
        text=inbound.text,
    )
    return InboundAccepted(eventId=event_id)
