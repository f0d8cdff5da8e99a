"""The tables calfeed keeps: what it must remember between runs.

The catalog lives in YAML; the database holds only what YAML cannot: the revision of every
calendar entry (so SEQUENCE and LAST-MODIFIED rise on edits and stay put otherwise).
"""

from __future__ import annotations

import sqlalchemy as sa

from .database import UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("uid", sa.String(255), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("last_modified", UTCDateTime, nullable=False),
)
