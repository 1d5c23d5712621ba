"""order, timeouts, alerts, catch-up (issue 13): each event's place among its message's events
and its catch-up position; deliveries know their message and place (ordering per webhook);
webhooks choose their ordering and remember a failing warning; one alerts webhook per account;
messages carry a receipt deadline, a validity and simulation options; a log of every carrier
report per message

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Migrations describe the schema as it was when they were written, so they do not import the
# live schema module; a timezone-aware DateTime is what its UTC column type renders as.
_Timestamp = sa.DateTime(timezone=True)
_ID = sa.String(length=36)
_SENDABLE = "status IN ('pending', 'failed')"


def _partial(predicate: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(predicate), "postgresql_where": sa.text(predicate)}


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch_op.create_index("uq_events_position", ["position"], unique=True)
        batch_op.create_index(
            "ix_events_unpositioned", ["created_at"], unique=False, **_partial("position IS NULL")
        )
        batch_op.create_index(
            "ix_events_account_position", ["account_id", "position"], unique=False
        )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ordering", sa.String(length=10), nullable=False, server_default="message")
        )
        batch_op.add_column(sa.Column("warned_at", _Timestamp, nullable=True))
        batch_op.create_index(
            "uq_webhooks_one_alerts",
            ["account_id"],
            unique=True,
            **_partial("kind = 'alerts' AND deleted_at IS NULL"),
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_deliveries_order",
            ["webhook_id", "message_id", "sequence"],
            unique=False,
            **_partial(f"message_id IS NOT NULL AND {_SENDABLE}"),
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sim_options", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("receipt_due_at", _Timestamp, nullable=True))
        batch_op.add_column(sa.Column("validity_s", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_messages_receipt_due",
            ["receipt_due_at"],
            unique=False,
            **_partial("receipt_due_at IS NOT NULL"),
        )
    op.create_table(
        "report_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("received_at", _Timestamp, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_report_log_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_report_log"),
    )
    op.create_index(
        "ix_report_log_message", "report_log", ["message_id", "received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_report_log_message", table_name="report_log")
    op.drop_table("report_log")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_receipt_due")
        batch_op.drop_column("validity_s")
        batch_op.drop_column("receipt_due_at")
        batch_op.drop_column("sim_options")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_order")
        batch_op.drop_column("sequence")
        batch_op.drop_column("message_id")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index("uq_webhooks_one_alerts")
        batch_op.drop_column("warned_at")
        batch_op.drop_column("ordering")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_account_position")
        batch_op.drop_index("ix_events_unpositioned")
        batch_op.drop_index("uq_events_position")
        batch_op.drop_column("position")
        batch_op.drop_column("sequence")
