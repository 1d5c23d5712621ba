"""event report required: every event carries the values richer webhooks send (SPEC §8)

Migrations 0001 to 0005 shipped together, so no event was ever stored without a report: the
column can say so, and the code that guessed a report from the payload is gone.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The column as SQLite's stored CREATE TABLE spells it (0002 added it with ADD COLUMN).
_REPORT_COLUMN = re.compile(r"\breport JSON(?: NOT NULL)?(?=,|\s*\))")


def upgrade() -> None:
    _set_report_required(True)


def downgrade() -> None:
    _set_report_required(False)


def _set_report_required(required: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("events", "report", existing_type=sa.JSON(), nullable=not required)
        return
    _sqlite_set_report_required(required)


def _sqlite_set_report_required(required: bool) -> None:
    """SQLite cannot change a column's nullability in place, and the usual way round that
    (batch_alter_table: copy the table, drop the old one) is destructive here: migrations run
    in one transaction with foreign keys enforced, so dropping `events` cascades and deletes
    every delivery and attempt. A constraint that leaves the stored rows as they are is
    changed in the schema text instead, the procedure SQLite documents for such changes
    (sqlite.org/lang_altertable.html, "making other kinds of table schema changes")."""
    conn = op.get_bind()
    if required and conn.execute(sa.text("SELECT 1 FROM events WHERE report IS NULL")).first():
        raise RuntimeError("events without a report exist; migration 0006 cannot require one")
    create = conn.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'")
    ).scalar_one()
    column = "report JSON NOT NULL" if required else "report JSON"
    edited, count = _REPORT_COLUMN.subn(column, create)
    if count != 1:
        raise RuntimeError(f"events.report not found in the stored schema: {create}")
    version = conn.execute(sa.text("PRAGMA schema_version")).scalar_one()
    conn.execute(sa.text("PRAGMA writable_schema = ON"))
    conn.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'events'"),
        {"sql": edited},
    )
    # A new schema version makes every connection (this one included) read the schema again.
    conn.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    conn.execute(sa.text("PRAGMA writable_schema = OFF"))
