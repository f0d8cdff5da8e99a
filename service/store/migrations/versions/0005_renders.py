"""Rendered calendar entries, kept so a restart renders again only what changed.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renders",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("uid", sa.String(255), nullable=False),
        sa.Column("zone", sa.String(255), nullable=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_renders"),
    )
    op.create_index("ix_renders_uid", "renders", ["uid"])


def downgrade() -> None:
    op.drop_index("ix_renders_uid", "renders")
    op.drop_table("renders")
