"""Turning a claimed delivery into the request to send."""

from __future__ import annotations

from dlrhub.domain.errors import DlrhubError
from dlrhub.domain.formats import richer_request
from dlrhub.domain.outgoing import OutgoingRequest, json_event_request
from dlrhub.outbound.client import USER_AGENT
from dlrhub.store.records import DeliveryJob
from dlrhub.store.webhooks import ALERTS, DELIVERY_STATUS, RICHER


def build_request(job: DeliveryJob, timestamp: int) -> OutgoingRequest:
    webhook = job.webhook
    # The alerts webhook gets its events' JSON as is, like the delivery-status webhook.
    if webhook.kind in (DELIVERY_STATUS, ALERTS):
        return json_event_request(
            url=webhook.url,
            payload_json=job.payload.encode(),
            event_id=job.event_id,
            secrets=job.secrets,
            timestamp=timestamp,
            user_agent=USER_AGENT,
        )
    if webhook.kind == RICHER and webhook.report_type is not None:
        return richer_request(
            method=webhook.method,
            url=webhook.url,
            report_type=webhook.report_type,
            values=job.webhook_values,
            parameters=webhook.parameters,
            custom_params=webhook.custom_params,
            custom_headers=webhook.custom_headers,
            event_id=job.event_id,
            secrets=job.secrets,
            timestamp=timestamp,
            user_agent=USER_AGENT,
        )
    raise DlrhubError(f"webhook kind {webhook.kind!r} cannot be delivered")
