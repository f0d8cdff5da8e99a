"""Alarms stored with the subscriber (migration 0008), on SQLite and on PostgreSQL.

A database of an older calfeed gains the column with no alarm for anyone and loses nothing;
the log of changed subscribers (migration 0006's triggers) keeps working on the table, so a
change of alarms, like any change, is seen by the planner.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import command
from migrations import alembic_on

from service.reminders import subscribers as store
from service.store.database import open_database
from service.store.tables import subscriber_changes, subscribers

JAN = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)


def test_an_older_database_gains_alarms_for_nobody_and_loses_nothing(
    empty_database_url: str,
) -> None:
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        command.upgrade(alembic_on(connection), "0007")
        connection.execute(
            sa.text(
                "INSERT INTO subscribers (email, timezone, topics, status, source, created_at,"
                " confirmed_at, generation) VALUES ('ann@example.org', 'Asia/Tokyo',"
                " 'procurement supply-chains', 'confirmed', 'web', :at, :at, 3)"
            ),
            {"at": JAN.replace(tzinfo=None)},
        )
    engine.dispose()

    engine = open_database(empty_database_url)  # upgrades to the newest schema
    try:
        with engine.begin() as connection:
            [person] = store.confirmed(connection)
            assert (person.email, person.timezone, person.topics, person.generation) == (
                "ann@example.org",
                ZoneInfo("Asia/Tokyo"),
                frozenset({"procurement", "supply-chains"}),
                3,
            )
            assert person.confirmed_at == JAN
            assert person.alarms == ()
            logged = connection.execute(sa.select(sa.func.count()).select_from(subscriber_changes))
            before = logged.scalar_one()

            store.update(
                connection,
                person.id,
                person.topics,
                person.timezone,
                [timedelta(minutes=10), timedelta(days=1), timedelta(minutes=10)],
            )

            changed = store.get(connection, person.id)
            assert changed is not None
            assert changed.alarms == (timedelta(days=1), timedelta(minutes=10))
            stored = connection.execute(sa.select(subscribers.c.alarms)).scalar_one()
            assert stored == "86400 600"
            logged = connection.execute(sa.select(sa.func.count()).select_from(subscriber_changes))
            assert logged.scalar_one() == before + 1
            # Topics and zone alone (as config.yaml's sync or an older form writes) keep them.
            store.update(connection, person.id, ["procurement"], person.timezone)
            kept = store.get(connection, person.id)
            assert kept is not None and kept.alarms == changed.alarms
    finally:
        engine.dispose()


def test_the_migration_goes_back_and_forth(empty_database_url: str) -> None:
    engine = open_database(empty_database_url)
    engine.dispose()
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        command.downgrade(alembic_on(connection), "0007")
        assert "alarms" not in {
            c["name"] for c in sa.inspect(connection).get_columns("subscribers")
        }
        command.upgrade(alembic_on(connection), "head")
        assert "alarms" in {c["name"] for c in sa.inspect(connection).get_columns("subscribers")}
    engine.dispose()
