"""The SQL schema, as SQLAlchemy Core tables. Alembic migrations create exactly this."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator

from dlrhub.domain.delivery_state import FINISHED, SENDABLE, sql_state_list
from dlrhub.domain.timestamps import as_utc

# The predicates of the deliveries' partial indexes. Queries meant to use an index spell the
# same text (see store/deliveries.py and store/retention.py): a bound parameter would not
# match an index's predicate. The migrations keep their own literal copy, as written then.
SENDABLE_PREDICATE = f"status IN {sql_state_list(SENDABLE)}"
FINISHED_PREDICATE = f"status IN {sql_state_list(FINISHED)}"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends.

    SQLite has no timezone type: values are stored as naive UTC so that its string
    comparison orders them correctly, and come back tagged as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return as_utc(value)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)

accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    # Written at most once a minute per key and process: a write per request would cost more
    # than the request.
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Index("ix_api_keys_account", "account_id"),
)

# Dashboard sessions live here, not in the cookie, so signing out or revoking the key that
# opened one ends it on every process at once (SPEC §14).
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    # SHA-256 of the cookie's token: a copied table cannot be replayed as cookies.
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("key_id", ID, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_dashboard_sessions_key", "key_id"),
    Index("ix_dashboard_sessions_expires", "expires_at"),
)

signing_secrets = Table(
    "signing_secrets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # The HMAC key must be usable, so it cannot be hashed; it never leaves the account's scope.
    Column("secret", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # NULL: the current secret. Set when rotated out: it keeps signing until then.
    Column("expires_at", UTCDateTime),
    Index("ix_signing_secrets_account", "account_id"),
)

waba_numbers = Table(
    "waba_numbers",
    metadata,
    Column("number", String(20), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The number's id at Meta (WhatsApp Cloud API, SPEC §11.3): what sends go to and what
    # Meta's notifications name. NULL: registered for simulation only.
    Column("meta_phone_number_id", String(64)),
    Index("ix_waba_numbers_account", "account_id"),
    Index("uq_waba_numbers_meta_phone_number_id", "meta_phone_number_id", unique=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("customer_message_id", String(64), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("destination", String(20), nullable=False),
    Column("sender", String(20)),
    Column("phone_number_id", String(20)),
    Column("body", Text, nullable=False),
    # Fingerprint of the send request: an idempotent retry must carry the same one.
    Column("request_hash", String(64), nullable=False),
    Column("simulation", Boolean, nullable=False),
    Column("enable_notification", Boolean, nullable=False),
    Column("total_parts", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("error", Text),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Column("read_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # The simulator's durable to-do: what it reports next, and when. NULL when nothing is due.
    Column("sim_next", String(10)),
    Column("sim_due_at", UTCDateTime),
    # A simulation's options beyond `true` (outcome, delayMs, faults; docs/simulation.md).
    Column("sim_options", JSON),
    # When a real message with no final report becomes EXPIRED (docs/receipt-timeouts.md):
    # set at its hand-over; `validity_s` is the send's validityPeriod, if any.
    Column("receipt_due_at", UTCDateTime),
    Column("validity_s", Integer),
    Index("uq_messages_account_customer_id", "account_id", "customer_message_id", unique=True),
    Index(
        "ix_messages_receipt_due",
        "receipt_due_at",
        sqlite_where=text("receipt_due_at IS NOT NULL"),
        postgresql_where=text("receipt_due_at IS NOT NULL"),
    ),
    Index(
        "ix_messages_sim_due",
        "sim_due_at",
        sqlite_where=text("sim_due_at IS NOT NULL"),
        postgresql_where=text("sim_due_at IS NOT NULL"),
    ),
    # Retention walks final messages oldest first (store/retention.py spells the same predicate).
    Index(
        "ix_messages_final_updated",
        "updated_at",
        "id",
        sqlite_where=text("status <> 'SENT'"),
        postgresql_where=text("status <> 'SENT'"),
    ),
)

events = Table(
    "events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE")),
    Column("event_type", String(10), nullable=False),
    Column("channel", String(10), nullable=False),
    # The business number the event belongs to (WhatsApp routing); NULL when not known.
    Column("business_number", String(20)),
    Column("payload", Text, nullable=False),
    # The event's values under the logical names of SPEC §8 (transactionId, messageId, ...),
    # as richer webhooks send them: fixed when the event is stored.
    Column("report", JSON, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The event's place among its message's events (1, 2, …; SPEC-level contract in
    # docs/ordering.md), in every payload; NULL for events without a message.
    Column("sequence", Integer),
    # The catch-up cursor (docs/catch-up.md): given in commit order after the commit, so a
    # reader paging by it never skips an event committed later with an earlier id.
    Column("position", BigInteger),
    Index("ix_events_message", "message_id"),
    Index("uq_events_position", "position", unique=True),
    Index(
        "ix_events_unpositioned",
        "created_at",
        sqlite_where=text("position IS NULL"),
        postgresql_where=text("position IS NULL"),
    ),
    Index("ix_events_account_position", "account_id", "position"),
    # Retention walks INBOUND events (those without a message) oldest first. Keyed on the
    # type, not on `message_id IS NULL`: that test also fits ix_events_message, which both
    # planners then misjudge as cheaper (it returns every INBOUND event, to be sorted).
    Index(
        "ix_events_inbound_created",
        "created_at",
        "id",
        sqlite_where=text("event_type = 'INBOUND'"),
        postgresql_where=text("event_type = 'INBOUND'"),
    ),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # "delivery_status" (the one account-wide callback of §5) or "richer" (§8).
    Column("kind", String(20), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("product", String(10)),
    Column("report_type", String(3)),
    Column("method", String(4), nullable=False, server_default="JSON"),
    Column("waba_number", String(20)),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("custom_params", JSON, nullable=False, default=dict),
    Column("custom_headers", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Soft delete keeps the delivery log readable after a webhook is removed.
    Column("deleted_at", UTCDateTime),
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", Text),
    Column("failing_since", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_failure_at", UTCDateTime),
    # "message": a message's events reach this webhook in order; "none": fully parallel.
    Column("ordering", String(10), nullable=False, server_default="message"),
    # When webhook.failing was sent for the current failure streak (once per streak).
    Column("warned_at", UTCDateTime),
    Index(
        "uq_webhooks_one_alerts",
        "account_id",
        unique=True,
        sqlite_where=text("kind = 'alerts' AND deleted_at IS NULL"),
        postgresql_where=text("kind = 'alerts' AND deleted_at IS NULL"),
    ),
    Index(
        "uq_webhooks_one_delivery_status",
        "account_id",
        unique=True,
        sqlite_where=text("kind = 'delivery_status' AND deleted_at IS NULL"),
        postgresql_where=text("kind = 'delivery_status' AND deleted_at IS NULL"),
    ),
    Index("ix_webhooks_account", "account_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", ID, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("webhook_id", ID, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    # pending (never tried) | failed (will retry) | succeeded | dead (gave up) | cancelled.
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_expires_at", UTCDateTime),
    Column("leased_by", String(64)),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The event's message and place (copied from the event): a delivery waits while an
    # earlier one of the same message to the same webhook is still to send (ordering).
    Column("message_id", ID),
    Column("sequence", Integer),
    Index(
        "ix_deliveries_order",
        "webhook_id",
        "message_id",
        "sequence",
        sqlite_where=text(f"message_id IS NOT NULL AND {SENDABLE_PREDICATE}"),
        postgresql_where=text(f"message_id IS NOT NULL AND {SENDABLE_PREDICATE}"),
    ),
    # Only deliveries still to send are in this index, so it stays small however many are done.
    Index(
        "ix_deliveries_due",
        "next_attempt_at",
        sqlite_where=text(SENDABLE_PREDICATE),
        postgresql_where=text(SENDABLE_PREDICATE),
    ),
    Index("ix_deliveries_account_created", "account_id", "created_at"),
    Index("ix_deliveries_webhook_created", "webhook_id", "created_at"),
    Index("ix_deliveries_event", "event_id"),
    # Retention walks finished deliveries oldest first.
    Index(
        "ix_deliveries_finished_updated",
        "updated_at",
        "id",
        sqlite_where=text(FINISHED_PREDICATE),
        postgresql_where=text(FINISHED_PREDICATE),
    ),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("delivery_id", ID, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("response_status", Integer),
    Column("response_body", Text),
    Column("error", Text),
    Index("ix_delivery_attempts_delivery", "delivery_id"),
)

# The connectors' durable queue (SPEC §11): a real (not simulated) message waiting for its
# hand-over to a carrier. Claimed under a lease like a delivery, so any worker may submit it
# and a crash loses nothing; the row goes once the carrier accepted or refused the message.
submissions = Table(
    "submissions",
    metadata,
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("tries", Integer, nullable=False, default=0),
    Column("first_tried_at", UTCDateTime),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_expires_at", UTCDateTime),
    Column("leased_by", String(64)),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_submissions_due", "channel", "next_attempt_at"),
)

# What carriers accepted, one row per part: the id each part's reports will name, and each
# part's final state (a multi-part message is final from its parts', SPEC §11.2).
carrier_parts = Table(
    "carrier_parts",
    metadata,
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("part_index", Integer, primary_key=True),
    # The carrier's id as matched (smpp_receipts.stored_id_key), and as the carrier wrote it.
    Column("carrier_key", String(100), nullable=False),
    Column("carrier_message_id", String(100), nullable=False),
    Column("status", String(10)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_carrier_parts_key", "carrier_key"),
)

# Receipts that named an id no part has yet: the receipt may overtake the record of the
# acceptance (another session, another process). Kept, keyed by every id it may stand for,
# and applied when a part with one of those ids is recorded; pruned when nothing claims them.
early_receipts = Table(
    "early_receipts",
    metadata,
    Column("receipt_id", ID, primary_key=True),
    Column("carrier_key", String(100), primary_key=True),
    Column("status", String(10)),
    Column("error", Text),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_early_receipts_key", "carrier_key"),
    Index("ix_early_receipts_received", "received_at"),
)

# Bound sessions per SMPP bind across every process (`sessions=N`, SPEC §11.2): a slot is
# held under a lease its holder renews; a dead holder's slot is taken over when it lapses.
# The holder also publishes the session's state and counters here for `dlrhub carriers`.
carrier_sessions = Table(
    "carrier_sessions",
    metadata,
    Column("bind", String(200), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("holder", String(64)),
    Column("lease_expires_at", UTCDateTime),
    Column("state", String(20), nullable=False),
    Column("counters", JSON, nullable=False, default=dict),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Numbers whose replies (MO) belong to an account, per channel other than WhatsApp (whose
# business numbers are `waba_numbers`): SMS numbers (SPEC §11.2), and the RBM agent's number
# for RCS (SPEC §11.4; one agent per deployment, so one RCS number).
reply_numbers = Table(
    "reply_numbers",
    metadata,
    Column("channel", String(10), primary_key=True),
    Column("number", String(20), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_reply_numbers_account", "account_id"),
)

# What carriers said about each message, applied or not (docs/receipt-timeouts.md): a report
# that changed nothing (late after a timeout, repeated, intermediate) stays visible here.
report_log = Table(
    "report_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("status", String(10)),
    Column("outcome", String(10), nullable=False),
    Column("detail", Text),
    Index("ix_report_log_message", "message_id", "received_at"),
)
