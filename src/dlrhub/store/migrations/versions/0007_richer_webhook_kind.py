"""richer webhook kind: the stored kind of a richer webhook (SPEC §8) says "richer", the
contract's word, instead of the "custom" it was written as

No index or constraint names the value (the one partial index on `kind` names
'delivery_status'), so this is a plain data update on both databases.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE webhooks SET kind = 'richer' WHERE kind = 'custom'")


def downgrade() -> None:
    op.execute("UPDATE webhooks SET kind = 'custom' WHERE kind = 'richer'")
