"""Change notices: what subscribers were last told of each event, and who wants to hear.

``event_states`` keeps, per event, the date, time, zone and place subscribers were last
told (at first: what was published) beside what was last seen, so a notice is planned once
an edit has settled, and an edit that is reverted makes none, across restarts too.
``change_notices`` keeps what each planned notice tells (before and after), for its mails.
``subscribers.change_notices`` is the preference, on for everyone until they turn it off:
a plain ALTER TABLE, never a copy of the table, so the triggers of migration 0006 stay on it.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from service.store.database import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "subscribers",
        sa.Column("change_notices", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "event_states",
        sa.Column("event_id", sa.String(255)),
        sa.Column("told", sa.Text, nullable=False),
        sa.Column("seen", sa.Text, nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.Column("changed_at", UTCDateTime),
        sa.Column("notices", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_event_states"),
    )
    op.create_index("ix_event_states_changed_at", "event_states", ["changed_at"])
    op.create_table(
        "change_notices",
        sa.Column("event_id", sa.String(255)),
        sa.Column("number", sa.Integer),
        sa.Column("before", sa.Text, nullable=False),
        sa.Column("after", sa.Text, nullable=False),
        sa.Column("planned_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "number", name="pk_change_notices"),
    )


def downgrade() -> None:
    op.drop_table("change_notices")
    op.drop_index("ix_event_states_changed_at", "event_states")
    op.drop_table("event_states")
    op.drop_column("subscribers", "change_notices")
