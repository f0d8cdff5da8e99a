"""What mail each subscriber chose: per-event reminders, a weekly digest, new-event mails.

Every subscriber so far keeps what they had: reminders before each event, no digest and no
new-event mail. A plain ALTER TABLE, never a copy of the table: the triggers of migration
0006 stay on it.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from service.store.database import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = ("per_event", "digest_weekday", "digest_hour", "digest_since", "new_events_since")


def upgrade() -> None:
    op.add_column(
        "subscribers",
        sa.Column("per_event", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.add_column("subscribers", sa.Column("digest_weekday", sa.SmallInteger))
    op.add_column("subscribers", sa.Column("digest_hour", sa.SmallInteger))
    op.add_column("subscribers", sa.Column("digest_since", UTCDateTime))
    op.add_column("subscribers", sa.Column("new_events_since", UTCDateTime))


def downgrade() -> None:
    for column in reversed(_COLUMNS):
        op.drop_column("subscribers", column)
