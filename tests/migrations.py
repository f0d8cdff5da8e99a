"""Alembic on a test's own connection, for the tests of what each migration keeps.

pytest puts this folder on sys.path: ``from migrations import alembic_on``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.config import Config as AlembicConfig

from service.store.database import MIGRATIONS


def alembic_on(connection: sa.Connection) -> AlembicConfig:
    """Return an Alembic configuration that migrates through ``connection``."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config
