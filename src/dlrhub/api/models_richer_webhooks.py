"""Bodies of the richer webhooks (SPEC §8) and of testing one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from dlrhub.api.models import WebhookHealthFields
from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.timestamps import format_timestamp
from dlrhub.domain.webhook_rules import METHODS, ORDERINGS, PRODUCTS, REPORT_TYPES, WebhookSpec
from dlrhub.services.richer_webhooks import TestResult
from dlrhub.store.records import WebhookRecord


class WebhookRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product": "WHATSAPP",
                    "reportType": "DLR",
                    "method": "GET",
                    "url": "https://crm.example.com/dlr",
                    "wabaNumber": "+393409876543",
                    "parameters": {
                        "transactionId": "ref",
                        "messageId": "msgid",
                        "errorCode": "err",
                        "mobileNumber": "msisdn",
                        "receivedTime": "submitted",
                        "deliveredTime": "delivered",
                        "readTime": "read",
                        "status": "stat",
                    },
                    "customParams": {"source": "dlrhub"},
                    "customHeaders": {"X-Tenant": "acme"},
                }
            ]
        }
    )

    product: StrictStr = Field(json_schema_extra={"enum": list(PRODUCTS)})
    reportType: StrictStr = Field(
        json_schema_extra={"enum": list(REPORT_TYPES)},
        description="DLR: DELIVERY and READ events; MO: INBOUND events (not for SMS).",
    )
    method: StrictStr = Field(
        json_schema_extra={"enum": list(METHODS)},
        description="GET: query string; POST: form-urlencoded body; JSON; XML.",
    )
    url: StrictStr = Field(description="The endpoint; the URL rules of the delivery webhook.")
    wabaNumber: StrictStr | None = Field(
        default=None,
        description="WhatsApp only: only events of this business number (one of the "
        "account's, see GET /whatsapp/numbers). Omitted: every number.",
    )
    productUniqueId: StrictStr | None = Field(
        default=None, description="Alias of wabaNumber (the name GET returns it under)."
    )
    parameters: dict[StrictStr, StrictStr] = Field(
        default_factory=dict,
        description="Logical name → the name your endpoint expects. DLR: transactionId, "
        "messageId, errorCode, mobileNumber, receivedTime, deliveredTime (WhatsApp also "
        "readTime, status); MO: messageId, mobileNumber, text, receivedTime, messageType.",
    )
    customParams: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="Sent with every request."
    )
    customHeaders: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="Added to every request; cannot replace ours."
    )
    ordering: StrictStr = Field(
        default="message",
        json_schema_extra={"enum": list(ORDERINGS)},
        description="message: a message's events arrive in the order they happened, a later "
        "one waiting while an earlier one is retried; none: every event as soon as possible.",
    )

    def spec(self) -> WebhookSpec:
        number = self.wabaNumber
        if self.productUniqueId is not None:
            if number is not None and number != self.productUniqueId:
                raise InvalidInput(
                    "wabaNumber and productUniqueId differ",
                    errors=[FieldError("productUniqueId", "differs from wabaNumber")],
                )
            number = self.productUniqueId
        return WebhookSpec(
            product=self.product,
            report_type=self.reportType,
            method=self.method,
            url=self.url,
            waba_number=number,
            parameters=dict(self.parameters),
            custom_params=dict(self.customParams),
            custom_headers=dict(self.customHeaders),
            ordering=self.ordering,
        )


class WebhookView(WebhookHealthFields):
    id: str
    product: str
    url: str
    reportType: str
    method: str
    productUniqueId: str | None = Field(description="The WhatsApp business number, if any.")
    parameters: dict[str, str]
    customParams: dict[str, str]
    customHeaders: dict[str, str]
    ordering: str
    createdAt: str
    updatedAt: str

    @classmethod
    def of(cls, webhook: WebhookRecord) -> WebhookView:
        return cls(
            id=webhook.id,
            product=webhook.product or "",
            url=webhook.url,
            reportType=webhook.report_type or "",
            method=webhook.method,
            productUniqueId=webhook.waba_number,
            parameters=webhook.parameters,
            customParams=webhook.custom_params,
            customHeaders=webhook.custom_headers,
            ordering=webhook.ordering,
            createdAt=format_timestamp(webhook.created_at),
            updatedAt=format_timestamp(webhook.updated_at),
            **WebhookHealthFields.of_webhook(webhook),
        )


class WebhookList(BaseModel):
    items: list[WebhookView]


class TestRequestView(BaseModel):
    method: str
    url: str
    headers: dict[str, str]
    body: str


class TestResponseView(BaseModel):
    status: int
    headers: dict[str, str]
    body: str = Field(description="The first 4 KiB, as text.")
    durationMs: int


class TestResultView(BaseModel):
    request: TestRequestView
    response: TestResponseView | None
    error: str | None = Field(description="Why no response came back (timeout, TLS, ...).")

    @classmethod
    def of(cls, result: TestResult) -> TestResultView:
        return cls.model_validate(
            {"request": result.request, "response": result.response, "error": result.error}
        )
