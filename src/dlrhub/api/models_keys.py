"""Bodies of the account's API keys (SPEC §14)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from dlrhub.domain.api_keys import MAX_KEY_NAME_LENGTH
from dlrhub.domain.timestamps import format_optional_timestamp, format_timestamp
from dlrhub.services.accounts import NewApiKey
from dlrhub.store.records import ApiKeyRecord


class ApiKeyRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "billing service"}]})

    # The length is checked by the service (a 400 problem naming the field), after trimming.
    name: StrictStr = Field(
        description=f"What the key is for: 1 to {MAX_KEY_NAME_LENGTH} characters.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_NAME_LENGTH},
    )


class ApiKeyView(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    createdAt: str
    lastUsedAt: str | None = Field(
        description="When the key last authenticated a request (to within about a minute)."
    )
    revokedAt: str | None = Field(description="Set once revoked: the key is refused (401).")

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKeyView:
        return cls(
            id=record.id,
            name=record.name,
            prefix=record.prefix,
            createdAt=format_timestamp(record.created_at),
            lastUsedAt=format_optional_timestamp(record.last_used_at),
            revokedAt=format_optional_timestamp(record.revoked_at),
        )


class ApiKeyList(BaseModel):
    items: list[ApiKeyView]


class NewApiKeyView(ApiKeyView):
    apiKey: str = Field(description="The key itself: shown only in this response, keep it.")

    @classmethod
    def created(cls, new: NewApiKey) -> NewApiKeyView:
        return cls(**ApiKeyView.of(new.record).model_dump(), apiKey=new.api_key)
