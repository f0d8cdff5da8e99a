"""Alarms a subscriber chose for their personal feed.

Lead times before an event's start, in seconds, joined by spaces; empty (no alarm) for every
subscriber so far, as for every new one until they choose. A plain ALTER TABLE, never a
copy of the table: the triggers of migration 0006 stay on it.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "subscribers",
        sa.Column("alarms", sa.String(64), nullable=False, server_default=sa.text("''")),
    )


def downgrade() -> None:
    op.drop_column("subscribers", "alarms")
