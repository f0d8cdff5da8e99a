"""Room for a worker's whole name wherever it is stored.

A worker is named ``host:pid:random``; the outbox kept only 64 characters of it in
``claimed_by``, so on PostgreSQL every claim by a worker on a long hostname failed.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("claimed_by", type_=sa.String(128), existing_type=sa.String(64))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("claimed_by", type_=sa.String(64), existing_type=sa.String(128))
