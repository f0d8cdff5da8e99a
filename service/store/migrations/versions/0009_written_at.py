"""When each mail in the outbox was written, so that a mail sent again is the same mail.

A worker that dies with a mail in flight leaves it to the next, which sends it again once the
lease runs out. With the moment the first was written kept here, the copy carries the same
Date and the same "starts in" as the first, not ones a lease later. Rows from before read as
written when they are next claimed. A plain ALTER TABLE.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from service.store.database import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("written_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "written_at")
