"""Revisions of calendar entries.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from service.store.database import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revisions",
        sa.Column("uid", sa.String(255)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("last_modified", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_revisions"),
    )


def downgrade() -> None:
    op.drop_table("revisions")
