"""webhook last attempts: when each webhook last succeeded and last failed, kept by the
dispatcher so health reads never scan the attempt log

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Migrations describe the schema as it was when they were written, so they do not import the
# live schema module; a timezone-aware DateTime is what its UTC column type renders as.
_Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_success_at", _Timestamp))
        batch_op.add_column(sa.Column("last_failure_at", _Timestamp))


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("last_failure_at")
        batch_op.drop_column("last_success_at")
