"""What mail each subscriber chose, stored with them (migration 0010), on SQLite and PostgreSQL.

A database of an older calfeed gains the columns with what everyone had (reminders before
each event, no digest, no new-event mail) and loses nothing; the log of changed subscribers
(migration 0006's triggers) keeps working on the table, so a changed choice is planned anew.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import command
from migrations import alembic_on

from service.catalog.models import Choices, Digest
from service.reminders import subscribers as store
from service.store.database import open_database
from service.store.tables import subscriber_changes

JAN = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
COLUMNS = {"per_event", "digest_weekday", "digest_hour", "digest_since", "new_events_since"}


def test_an_older_database_keeps_everyones_reminders_and_logs_a_changed_choice(
    empty_database_url: str,
) -> None:
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        command.upgrade(alembic_on(connection), "0009")
        connection.execute(
            sa.text(
                "INSERT INTO subscribers (email, timezone, topics, status, source, created_at,"
                " confirmed_at, generation, alarms) VALUES ('ann@example.org', 'Asia/Tokyo',"
                " 'procurement', 'confirmed', 'web', :at, :at, 2, '600')"
            ),
            {"at": JAN.replace(tzinfo=None)},
        )
    engine.dispose()

    engine = open_database(empty_database_url)  # upgrades to the newest schema
    try:
        with engine.begin() as connection:
            [person] = store.confirmed(connection)
            assert (person.email, person.generation, person.alarms) == (
                "ann@example.org",
                2,
                (timedelta(minutes=10),),
            )
            assert person.choices == Choices(per_event=True, digest=None, new_events=False)
            logged = connection.execute(sa.select(sa.func.count()).select_from(subscriber_changes))
            before = logged.scalar_one()

            later = JAN + timedelta(days=3)
            chosen = Choices(False, Digest(6, 20), True)
            store.update(
                connection,
                person.id,
                ["procurement"],
                ZoneInfo("Asia/Tokyo"),
                None,
                (chosen, later),
            )
            changed = store.get(connection, person.id)
            assert changed is not None and changed.choices == chosen
            assert (changed.digest_since, changed.new_events_since) == (later, later)
            assert changed.alarms == person.alarms
            logged = connection.execute(sa.select(sa.func.count()).select_from(subscriber_changes))
            assert logged.scalar_one() == before + 1

            # The same choice saved again later keeps the moments it counts from.
            store.update(
                connection,
                person.id,
                ["procurement"],
                ZoneInfo("Asia/Tokyo"),
                None,
                (chosen, later + timedelta(days=1)),
            )
            again = store.get(connection, person.id)
            assert again is not None
            assert (again.digest_since, again.new_events_since) == (later, later)
    finally:
        engine.dispose()


def test_the_migration_goes_back_and_forth(empty_database_url: str) -> None:
    engine = open_database(empty_database_url)
    engine.dispose()
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        command.downgrade(alembic_on(connection), "0009")
        names = {c["name"] for c in sa.inspect(connection).get_columns("subscribers")}
        assert names.isdisjoint(COLUMNS) and "alarms" in names
        command.upgrade(alembic_on(connection), "head")
        names = {c["name"] for c in sa.inspect(connection).get_columns("subscribers")}
        assert COLUMNS <= names
    engine.dispose()
