"""What change notices keep in the database (their migration), on SQLite and on PostgreSQL.

A database of an older calfeed gains the choice of change notices, on for everyone, and
loses nothing; a change of the choice is logged like any change of a subscriber (migration
0006's triggers), and the migration goes back and forth.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from migrations import alembic_on

from service.reminders import subscribers as store
from service.store.database import open_database
from service.store.tables import subscriber_changes

JAN = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
BEFORE = "0010"  # the newest revision without change notices


def _has_change_notices(connection: sa.Connection) -> tuple[bool, bool]:
    inspector = sa.inspect(connection)
    column = "change_notices" in {c["name"] for c in inspector.get_columns("subscribers")}
    return column, inspector.has_table("event_states") and inspector.has_table("change_notices")


def test_an_older_database_gains_change_notices_for_everyone(empty_database_url: str) -> None:
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        command.upgrade(alembic_on(connection), BEFORE)
        connection.execute(
            sa.text(
                "INSERT INTO subscribers (email, timezone, topics, status, source, created_at,"
                " confirmed_at, generation) VALUES ('ann@example.org', 'Asia/Tokyo',"
                " 'procurement', 'confirmed', 'web', :at, :at, 2)"
            ),
            {"at": JAN.replace(tzinfo=None)},
        )
    engine.dispose()

    engine = open_database(empty_database_url)  # upgrades to the newest schema
    try:
        with engine.begin() as connection:
            [person] = store.confirmed(connection)
            assert (person.email, person.generation, person.change_notices) == (
                "ann@example.org",
                2,
                True,
            )
            logged = connection.execute(sa.select(sa.func.count()).select_from(subscriber_changes))
            before = logged.scalar_one()

            store.update(
                connection, person.id, person.topics, person.timezone, change_notices=False
            )

            changed = store.get(connection, person.id)
            assert changed is not None and changed.change_notices is False
            logged = connection.execute(sa.select(sa.func.count()).select_from(subscriber_changes))
            assert logged.scalar_one() == before + 1
            # Topics and zone alone (config.yaml's sync, an older form) keep the choice.
            store.update(connection, person.id, ["supply-chains"], person.timezone)
            kept = store.get(connection, person.id)
            assert kept is not None and kept.change_notices is False
    finally:
        engine.dispose()


def test_the_migration_goes_back_and_forth(empty_database_url: str) -> None:
    engine = open_database(empty_database_url)
    engine.dispose()
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        assert _has_change_notices(connection) == (True, True)
        command.downgrade(alembic_on(connection), BEFORE)
        assert _has_change_notices(connection) == (False, False)
        command.upgrade(alembic_on(connection), "head")
        assert _has_change_notices(connection) == (True, True)
    engine.dispose()
