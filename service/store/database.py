"""The database: an engine per URL, and the schema brought up to date on first use.

SQLite (the embedded default) and PostgreSQL run the same code. There is no setup step: every
command calls :func:`open_database`, which creates the SQLite file's folder and applies any
pending migration, so a fresh folder just works and an upgrade is a restart.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine, make_url

from ..errors import CalfeedError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(CalfeedError):
    """The database cannot be reached or brought up to date."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as UTC, read back aware on every backend (SQLite has no zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def open_database(url: str) -> Engine:
    """Connect to ``url`` and apply pending migrations; raise DatabaseError if that fails."""
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Workers starting at once: one migrates, the others wait for it.
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(5545)"))
            config = AlembicConfig()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except sa.exc.SQLAlchemyError as err:
        engine.dispose()
        shown = make_url(url).render_as_string(hide_password=True)
        raise DatabaseError(f"database {shown}: {err.orig or err}") from err  # type: ignore[attr-defined]
    return engine


def insert(connection: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT for ``table`` that can ``on_conflict_do_nothing()`` on either backend."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the web server read while the worker writes; foreign keys are off by default.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Under WAL this stays consistent after a crash; it only skips a sync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
