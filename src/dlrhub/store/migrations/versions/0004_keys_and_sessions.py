"""keys and sessions: named API keys with their last use, and dashboard sessions kept on the
server, tied to the key that opened them (SPEC §14)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Migrations describe the schema as it was when they were written, so they do not import the
# live schema module; a timezone-aware DateTime is what its UTC column type renders as.
_Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("last_used_at", _Timestamp, nullable=True))
        batch_op.create_index("ix_api_keys_account", ["account_id"], unique=False)
    op.create_table(
        "dashboard_sessions",
        # SHA-256 of the cookie's token: a copied table cannot be replayed as cookies.
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.Column("expires_at", _Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_dashboard_sessions_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name="fk_dashboard_sessions_key_id_api_keys",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_dashboard_sessions"),
    )
    op.create_index("ix_dashboard_sessions_key", "dashboard_sessions", ["key_id"], unique=False)
    op.create_index(
        "ix_dashboard_sessions_expires", "dashboard_sessions", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_dashboard_sessions_expires", table_name="dashboard_sessions")
    op.drop_index("ix_dashboard_sessions_key", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_account")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("name")
