"""The language a subscriber's mails are written in.

The language of the page they signed up on, or the one they chose on their preferences
page; NULL (every subscriber so far, and those config.yaml lists) means the site's own
language, whichever that is when a mail is written. A plain ALTER TABLE, never a copy of
the table: the triggers of migration 0006 stay on it.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("subscribers", "language")
