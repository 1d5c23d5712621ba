"""The one settings object. Built by the entry points (CLI, app factory), never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dlrhub.domain.api_keys import MAX_KEY_CACHE_S
from dlrhub.domain.carrier import parse_tokens
from dlrhub.domain.receipt_timeouts import DEFAULT_RECEIPT_TIMEOUT_S
from dlrhub.domain.retry import DEFAULT_SCHEDULE, parse_schedule
from dlrhub.domain.smpp_binds import SmppBind, parse_binds
from dlrhub.domain.status import Channel
from dlrhub.domain.urlpolicy import UrlPolicy

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./dlrhub.db"


class Settings(BaseSettings):
    """Every knob of dlrhub; each is read from a `DLRHUB_`-prefixed environment variable."""

    # Inputs stay out of error messages: a bad DLRHUB_SMPP_BINDS holds passwords.
    model_config = SettingsConfigDict(
        env_prefix="DLRHUB_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    simulator_delay_ms: int = Field(default=1000, ge=0)
    retry_schedule: Annotated[tuple[float, ...], NoDecode] = DEFAULT_SCHEDULE
    delivery_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=2.0, gt=0)
    ca_bundle: Path | None = None
    allow_http: bool = False
    allow_private_targets: bool = False
    dev: bool = False

    # Dispatcher tuning. A lease must outlive one attempt (the timeout) with room to record it.
    lease_s: float = Field(default=30.0, gt=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    claim_batch: int = Field(default=500, ge=1)
    max_in_flight: int = Field(default=256, ge=1)
    max_in_flight_per_webhook: int = Field(default=64, ge=1)
    initial_in_flight_per_webhook: int = Field(default=4, ge=1)
    # Isolation: consecutive failures that pause a webhook, the first pause (doubling on
    # each failed probe), and how long a webhook may fail every attempt before it is disabled.
    circuit_threshold: int = Field(default=5, ge=1)
    circuit_cooldown_s: float = Field(default=5.0, gt=0)
    circuit_max_cooldown_s: float = Field(default=300.0, gt=0)
    disable_after_s: float = Field(default=5 * 24 * 3600.0, gt=0)
    # How long a webhook may fail every attempt before its account's alerts URL is warned
    # (webhook.failing, once per failure streak; docs/alerts.md).
    warn_after_s: float = Field(default=3600.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Carriers that may report outcomes: "name:token,name2:token2" (kept as {token: name}).
    carrier_tokens: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # Real SMS through SMPP (SPEC §11.2): `smpp://ID:PASSWORD@HOST:PORT?...`, comma-separated.
    smpp_binds: Annotated[tuple[SmppBind, ...], NoDecode] = ()
    smpp_default_sender: str | None = None
    # How often an idle SMPP session proves it is alive, and how long any answer may take.
    smpp_enquire_link_s: float = Field(default=30.0, gt=0)
    smpp_response_timeout_s: float = Field(default=10.0, gt=0)
    # WhatsApp Cloud API (SPEC §11.3): real WhatsApp messages need the token and the app secret
    # (without it Meta's notifications could not be verified, so no status would ever apply).
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_token: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_verify_token: str | None = None
    # Google RBM (SPEC §11.4): the agent, its service-account key file, the webhook's token.
    rbm_api_url: str = "https://rcsbusinessmessaging.googleapis.com/v1"
    rbm_agent_id: str | None = None
    rbm_credentials: Path | None = None
    rbm_client_token: str | None = None
    # Sends in flight per process to each HTTP carrier API, and how long one may take.
    carrier_http_concurrency: int = Field(default=32, ge=1)
    carrier_http_timeout_s: float = Field(default=10.0, gt=0)
    # Meta and Google post batches (hundreds of statuses): their ingest takes larger bodies.
    carrier_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # How long a carrier may refuse a message "for now" before it is ERROR (SPEC §11).
    submit_give_up_s: float = Field(default=3600.0, gt=0)
    # A message with no final report this long after its hand-over becomes EXPIRED (a send's
    # validityPeriod replaces it; docs/receipt-timeouts.md). Whole seconds.
    receipt_timeout_s: int = Field(default=DEFAULT_RECEIPT_TIMEOUT_S, ge=1)
    # A claimed submission's lease, and an SMPP session slot's (sessions=N across processes):
    # how long a dead process's work waits before another takes it over.
    submit_lease_s: float = Field(default=30.0, gt=0)
    carrier_slot_lease_s: float = Field(default=15.0, gt=0)
    log_level: str = "info"
    log_json: bool = False
    # Signs dashboard session cookies. Unset: a random secret per process (sessions end when it
    # restarts); set it to share sessions between several `dlrhub api` processes.
    dashboard_secret: str | None = None
    # Behind a TLS proxy: the proxy addresses whose X-Forwarded-* headers are trusted (uvicorn).
    forwarded_allow_ips: str | None = None
    # How long a process may accept an API key it found live without reading its row again:
    # a key revoked elsewhere is refused within this time (SPEC §14 allows at most 5 s).
    api_key_cache_s: float = Field(default=2.0, ge=0, le=MAX_KEY_CACHE_S)
    # Failed dashboard sign-ins allowed per client address and minute (SPEC §14).
    sign_in_failures_per_minute: int = Field(default=10, ge=1)

    # Per-account limits (SPEC §14): one customer must not be able to hurt the others.
    max_webhooks_per_account: int = Field(default=20, ge=1)
    test_rate_per_minute: int = Field(default=10, ge=1)
    test_concurrency_per_account: int = Field(default=2, ge=1)
    # "Test webhook" calls have their own small connection pool (never the dispatcher's).
    test_pool_size: int = Field(default=8, ge=1)

    # Retention (SPEC §15): finished data older than this is deleted in small batches.
    retention_days: float = Field(default=30.0, gt=0)
    retention_batch: int = Field(default=1000, ge=1)
    retention_interval_s: float = Field(default=3600.0, gt=0)

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_schedule(value)
        if isinstance(value, int | float):
            return (float(value),)
        return value

    @field_validator("carrier_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: object) -> object:
        return parse_tokens(value) if isinstance(value, str) else value

    @field_validator("smpp_binds", mode="before")
    @classmethod
    def _parse_binds(cls, value: object) -> object:
        return tuple(parse_binds(value)) if isinstance(value, str) else value

    @property
    def carrier_channels(self) -> frozenset[Channel]:
        """The channels whose real messages have a connector (SPEC §11)."""
        channels = set()
        if self.smpp_binds:
            channels.add(Channel.SMS)
        if self.whatsapp_token and self.whatsapp_app_secret:
            channels.add(Channel.WHATSAPP)
        if self.rbm_agent_id and self.rbm_credentials and self.rbm_client_token:
            channels.add(Channel.RCS)
        return frozenset(channels)

    @property
    def url_policy(self) -> UrlPolicy:
        return UrlPolicy(
            allow_http=self.allow_http or self.dev,
            allow_private=self.allow_private_targets or self.dev,
        )
