"""retention indexes: retention walks finished deliveries, final messages and INBOUND events
(those without a message) oldest first, each through a partial index that holds only what it
may delete (SPEC §15)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Literal, as they were when written: migrations do not import the live schema module.
_INDEXES = (
    # (name, table, columns, predicate)
    (
        "ix_deliveries_finished_updated",
        "deliveries",
        ["updated_at", "id"],
        "status IN ('succeeded', 'dead', 'cancelled')",
    ),
    ("ix_messages_final_updated", "messages", ["updated_at", "id"], "status <> 'SENT'"),
    ("ix_events_inbound_created", "events", ["created_at", "id"], "event_type = 'INBOUND'"),
)


def upgrade() -> None:
    for name, table, columns, predicate in _INDEXES:
        op.create_index(
            name,
            table,
            columns,
            unique=False,
            sqlite_where=sa.text(predicate),
            postgresql_where=sa.text(predicate),
        )


def downgrade() -> None:
    for name, table, _columns, _predicate in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
