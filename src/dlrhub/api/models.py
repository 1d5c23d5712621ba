"""Request and response bodies of the public API; field names are the wire's camelCase."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from dlrhub.domain.status import Channel, MessageStatus, describe, status_code
from dlrhub.domain.timestamps import format_optional_timestamp, format_timestamp
from dlrhub.services.messaging import PartState
from dlrhub.services.report_history import MessageReports
from dlrhub.store.records import MessageRecord, WebhookRecord


class SendMessageRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "destination": "+393401234567",
                    "sender": "ACME",
                    "body": "Your code is 123456",
                    "messageId": "order-12345",
                    "simulation": True,
                }
            ]
        }
    )

    destination: StrictStr = Field(description="Recipient, E.164.")
    body: StrictStr = Field(description="Text. SMS: at most 10 GSM 03.38 parts.")
    sender: StrictStr | None = Field(default=None, description="SMS/RCS sender id or number.")
    phoneNumberId: StrictStr | None = Field(
        default=None, description="WhatsApp: the business number it is sent from (E.164)."
    )
    messageId: StrictStr | None = Field(
        default=None,
        description="Your own id (≤ 64 chars), returned as customerMessageId. Sending the same "
        "id again returns the first message (200), or 409 if the request differs.",
    )
    # Checked by the domain (dlrhub.domain.simulation.parse_simulation), which names each
    # wrong option (`simulation.outcome`, …) in the 400 problem; a pydantic union would name
    # its members instead (`simulation.bool`).
    simulation: Any = Field(
        default=False,
        json_schema_extra={"anyOf": [{"type": "boolean"}, {"type": "object"}]},
        description="Never handed to a carrier; callbacks are still sent. Or an object "
        '{"outcome": "DELIVERED|ERROR|EXPIRED|READ", "delayMs": 0..600000, "faults": '
        '["duplicate", "reorder", "intermediate", "lost"]} (docs/simulation.md).',
    )
    validityPeriod: StrictInt | None = Field(
        default=None,
        description="Seconds (1 to 604800) after the hand-over to the carrier without a final "
        "receipt before the message is EXPIRED; default DLRHUB_RECEIPT_TIMEOUT_S "
        "(docs/receipt-timeouts.md).",
    )
    enableNotification: StrictBool = Field(
        default=True, description="false: no webhook events for this message."
    )


class SendMessageResponse(BaseModel):
    messageId: str
    customerMessageId: str
    channel: Channel
    status: MessageStatus
    totalParts: int


class PartView(BaseModel):
    index: int = Field(description="0-based, in the order the body was split.")
    status: MessageStatus = Field(description="SENT until the part's final receipt.")
    carrierMessageId: str = Field(description="The carrier's id for this part.")


class MessageStatusView(BaseModel):
    messageId: str
    customerMessageId: str
    channel: Channel
    destination: str
    status: MessageStatus
    statusCode: int | None
    description: str
    sentAt: str
    deliveredAt: str | None
    readAt: str | None
    error: str | None
    # Only on a real SMS sent in several parts (SPEC §11.2): the routes leave it unset
    # otherwise and answer with `response_model_exclude_unset`, so the key is absent.
    parts: list[PartView] = Field(
        default_factory=list,
        description="A real multi-part SMS only: each part the carrier accepted so far "
        "(absent on other messages).",
    )

    @classmethod
    def of(cls, message: MessageRecord, parts: list[PartState] | None = None) -> MessageStatusView:
        view = cls(
            messageId=message.id,
            customerMessageId=message.customer_message_id,
            channel=message.channel,
            destination=message.destination,
            status=message.status,
            statusCode=status_code(message.status),
            description=describe(message.status),
            sentAt=format_timestamp(message.sent_at),
            deliveredAt=format_optional_timestamp(message.delivered_at),
            readAt=format_optional_timestamp(message.read_at),
            error=message.error,
        )
        if parts is not None:
            view.parts = [
                PartView(index=p.index, status=p.status, carrierMessageId=p.carrier_message_id)
                for p in parts
            ]
        return view


class CarrierReportView(BaseModel):
    receivedAt: str
    status: MessageStatus | None = Field(description="null: an intermediate report (ENROUTE).")
    outcome: str = Field(
        description="applied (changed the status), ignored (intermediate, repeated or not a "
        "permitted move), late (after the message's receipt timeout)."
    )
    detail: str | None = Field(description="The report's error or note, as received.")


class MessageReportsView(BaseModel):
    messageId: str
    customerMessageId: str
    status: MessageStatus
    reports: list[CarrierReportView]

    @classmethod
    def of(cls, found: MessageReports) -> MessageReportsView:
        return cls(
            messageId=found.message.id,
            customerMessageId=found.message.customer_message_id,
            status=found.message.status,
            reports=[
                CarrierReportView(
                    receivedAt=format_timestamp(r.received_at),
                    status=r.status,
                    outcome=r.outcome.value,
                    detail=r.detail,
                )
                for r in found.reports
            ],
        )


class MessageStatusBatch(BaseModel):
    messages: list[MessageStatusView]
    notFound: list[str]


class DeliveryStatusWebhookRequest(BaseModel):
    callbackUrl: StrictStr | None = Field(default=None, description="HTTPS URL to POST events to.")
    url: StrictStr | None = Field(default=None, description="Alias of callbackUrl (seed 001).")
    method: StrictStr | None = Field(default=None, description="Only POST is supported.")


class WebhookHealthFields(BaseModel):
    """Set when dlrhub stopped sending to a webhook after continuous failure (issue 3)."""

    disabledAt: str | None = Field(
        default=None, description="When dlrhub stopped sending after continuous failure."
    )
    disabledReason: str | None = Field(default=None, description="Why it was disabled.")

    @staticmethod
    def of_webhook(webhook: WebhookRecord) -> dict[str, str | None]:
        return {
            "disabledAt": format_optional_timestamp(webhook.disabled_at),
            "disabledReason": webhook.disabled_reason,
        }


class DeliveryStatusWebhookView(WebhookHealthFields):
    callbackUrl: str
    createdAt: str
    updatedAt: str

    @classmethod
    def of(cls, webhook: WebhookRecord) -> DeliveryStatusWebhookView:
        return cls(
            callbackUrl=webhook.url,
            createdAt=format_timestamp(webhook.created_at),
            updatedAt=format_timestamp(webhook.updated_at),
            **WebhookHealthFields.of_webhook(webhook),
        )


class SigningSecretView(BaseModel):
    secret: str = Field(description="whsec_<base64>: the HMAC key of webhook-signature.")
    createdAt: str
    previousSecretExpiresAt: str | None = Field(
        description="After a rotation, the old secret also signs until then."
    )


class InboundRequest(BaseModel):
    source: StrictStr = Field(description="The recipient who replies, E.164.")
    destination: StrictStr = Field(description="Your number (sender / business number), E.164.")
    channel: Channel
    text: StrictStr


class InboundResponse(BaseModel):
    eventId: str
    eventType: str = "INBOUND"


class WabaNumberView(BaseModel):
    number: str
    createdAt: str


class WabaNumberList(BaseModel):
    items: list[WabaNumberView]


class Health(BaseModel):
    status: str
