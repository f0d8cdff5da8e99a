"""Event files as read, kept so a restart parses again only the files that changed.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parsed_files",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("file", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_parsed_files"),
    )
    op.create_index("ix_parsed_files_file", "parsed_files", ["file"])


def downgrade() -> None:
    op.drop_index("ix_parsed_files_file", "parsed_files")
    op.drop_table("parsed_files")
