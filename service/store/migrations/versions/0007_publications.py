"""When each event was first published, and at which start (so a moved one is rescheduled).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from service.store.database import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("event_id", sa.String(255)),
        sa.Column("first_start", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_publications"),
    )


def downgrade() -> None:
    op.drop_table("publications")
