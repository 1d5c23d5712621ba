"""carrier connectors: the durable submission queue, the carriers' ids per part, receipts
that arrive before the acceptance they report on, SMPP session slots shared by every process,
the numbers that receive SMS and RCS replies, and the Meta phone_number_id of WhatsApp
business numbers (SPEC §11, §11.2, §11.3, §11.4)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Migrations describe the schema as it was when they were written, so they do not import the
# live schema module; a timezone-aware DateTime is what its UTC column type renders as.
_Timestamp = sa.DateTime(timezone=True)
_ID = sa.String(length=36)


def _message_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["message_id"],
        ["messages.id"],
        name=f"fk_{table}_message_id_messages",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("first_tried_at", _Timestamp, nullable=True),
        sa.Column("next_attempt_at", _Timestamp, nullable=False),
        sa.Column("lease_expires_at", _Timestamp, nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _Timestamp, nullable=False),
        _message_fk("submissions"),
        sa.PrimaryKeyConstraint("message_id", name="pk_submissions"),
    )
    op.create_index(
        "ix_submissions_due", "submissions", ["channel", "next_attempt_at"], unique=False
    )
    op.create_table(
        "carrier_parts",
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("part_index", sa.Integer(), nullable=False),
        sa.Column("carrier_key", sa.String(length=100), nullable=False),
        sa.Column("carrier_message_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=True),
        sa.Column("created_at", _Timestamp, nullable=False),
        _message_fk("carrier_parts"),
        sa.PrimaryKeyConstraint("message_id", "part_index", name="pk_carrier_parts"),
    )
    op.create_index("ix_carrier_parts_key", "carrier_parts", ["carrier_key"], unique=False)
    op.create_table(
        "early_receipts",
        sa.Column("receipt_id", _ID, nullable=False),
        sa.Column("carrier_key", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", _Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("receipt_id", "carrier_key", name="pk_early_receipts"),
    )
    op.create_index("ix_early_receipts_key", "early_receipts", ["carrier_key"], unique=False)
    op.create_index("ix_early_receipts_received", "early_receipts", ["received_at"], unique=False)
    op.create_table(
        "carrier_sessions",
        sa.Column("bind", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", _Timestamp, nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("counters", sa.JSON(), nullable=False),
        sa.Column("updated_at", _Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("bind", "slot", name="pk_carrier_sessions"),
    )
    op.create_table(
        "reply_numbers",
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_reply_numbers_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel", "number", name="pk_reply_numbers"),
    )
    op.create_index("ix_reply_numbers_account", "reply_numbers", ["account_id"], unique=False)
    with op.batch_alter_table("waba_numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meta_phone_number_id", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "uq_waba_numbers_meta_phone_number_id", ["meta_phone_number_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("waba_numbers", schema=None) as batch_op:
        batch_op.drop_index("uq_waba_numbers_meta_phone_number_id")
        batch_op.drop_column("meta_phone_number_id")
    op.drop_index("ix_reply_numbers_account", table_name="reply_numbers")
    op.drop_table("reply_numbers")
    op.drop_table("carrier_sessions")
    op.drop_index("ix_early_receipts_received", table_name="early_receipts")
    op.drop_index("ix_early_receipts_key", table_name="early_receipts")
    op.drop_table("early_receipts")
    op.drop_index("ix_carrier_parts_key", table_name="carrier_parts")
    op.drop_table("carrier_parts")
    op.drop_index("ix_submissions_due", table_name="submissions")
    op.drop_table("submissions")
