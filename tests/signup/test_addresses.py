"""One address, one subscriber: spellings of an address are stored, mailed and limited once.

A domain in upper case, in fullwidth letters or as an IDNA A-label is the same domain, so
the sign-ups of its spellings are one subscriber. Rows stored apart before this rule are
merged by the database migration, on SQLite and on PostgreSQL, with nothing lost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from migrations import alembic_on

from service.reminders import subscribers as store
from service.reminders.worker import Worker
from service.store.database import open_database
from service.store.tables import outbox, subscribers

from .conftest import Inbox, live, sign_up

UTC_ZONE = ZoneInfo("UTC")
FULLWIDTH = "alice@ｅｘａｍｐｌｅ．ｏｒｇ"  # example.org, in fullwidth letters and dot


def stored(app: Flask) -> list[tuple[str, str]]:
    with live(app).engine.connect() as connection:
        rows = connection.execute(sa.select(subscribers.c.email, subscribers.c.status))
        return sorted((row.email, row.status) for row in rows)


@pytest.mark.parametrize(
    ("spellings", "address"),
    [
        (["alice@example.org", "Alice@EXAMPLE.ORG", FULLWIDTH], "alice@example.org"),
        (["bob@bücher.example", "bob@xn--bcher-kva.example", "BOB@BÜCHER.EXAMPLE"], None),
    ],
)
def test_spellings_of_one_address_are_one_subscriber_mailed_at_one_address(
    app: Flask,
    client: FlaskClient,
    worker: Worker,
    inbox: Inbox,
    spellings: list[str],
    address: str | None,
) -> None:
    address = address or "bob@bücher.example"
    for spelling in spellings:
        assert sign_up(client, spelling).status_code == 200

    worker.sweep()

    assert stored(app) == [(address, "pending")]
    assert {str(mail["To"]) for mail in inbox.all()} == {address}


def test_normalise_folds_the_domain_and_keeps_the_local_part() -> None:
    assert store.normalise("Alice@EXAMPLE.org") == "alice@example.org"
    assert store.normalise(FULLWIDTH) == "alice@example.org"
    assert store.normalise("x@xn--bcher-kva.example") == "x@bücher.example"
    assert store.normalise("ｂob@example.org") == "ｂob@example.org"  # another mailbox's name
    for address in ("alice@example.org", "x@bücher.example"):
        assert store.normalise(store.normalise(address)) == store.normalise(address)
    with pytest.raises(ValueError, match="'nobody' is not a valid email address"):
        store.normalise("nobody")


# The migration merges rows stored apart before.


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


JAN = _at("2030-01-10 09:00")
TARGET = _at("2030-04-01 12:00")


def _row(email: str, status: str, topics: str, **values: Any) -> dict[str, Any]:
    return {
        "email": email,
        "status": status,
        "topics": topics,
        "timezone": values.pop("timezone", "Europe/Brussels"),
        "source": values.pop("source", "web"),
        "created_at": values.pop("created_at", JAN),
        "confirmed_at": values.pop("confirmed_at", JAN if status == "confirmed" else None),
        "unsubscribed_at": values.pop("unsubscribed_at", None),
    }


def _reminder(subscriber_id: int, event: str, status: str, **values: str) -> dict[str, Any]:
    return {
        "subscriber_id": subscriber_id,
        "event_id": event,
        "kind": "start",
        "offset_seconds": 86400,
        "target_at": TARGET,
        "due_at": TARGET - timedelta(days=1),
        "status": status,
        "attempts": 1 if status == "sent" else 0,
        "message_id": values.pop("message_id", None),
    }


def test_the_migration_merges_the_spellings_of_an_address_and_loses_nothing(
    empty_database_url: str,
) -> None:
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        command.upgrade(alembic_on(connection), "0003")
        people = [
            # Carol confirmed two spellings: she got every reminder twice.
            _row("carol@example.org", "confirmed", "procurement", timezone="Asia/Tokyo"),
            _row(
                "carol@ｅｘａｍｐｌｅ.org",
                "confirmed",
                "supply-chains",
                confirmed_at=_at("2030-02-01 09:00"),
                timezone="America/New_York",
            ),
            # Dan's one row is spelled in capitals.
            _row("dan@ＥＸＡＭＰＬＥ.org", "confirmed", "procurement"),
            # Erin left under one spelling; a sign-up under another waits for her click.
            _row("erin@example.org", "unsubscribed", "procurement", unsubscribed_at=JAN),
            _row("erin@ｅｘａｍｐｌｅ.org", "pending", "circular-economy"),
        ]
        ids = []
        for row in people:
            key = connection.execute(subscribers.insert().values(**row)).inserted_primary_key
            assert key is not None
            ids.append(key[0])
        carol, carol2, dan, erin, erin2 = ids
        connection.execute(
            outbox.insert(),
            [
                _reminder(carol, "forum", "sent", message_id="<a@x>"),
                _reminder(carol2, "forum", "sent", message_id="<b@x>"),  # the duplicate
                _reminder(carol, "summit", "planned"),
                _reminder(carol2, "summit", "planned"),  # would be a duplicate
                _reminder(carol2, "webinar", "planned"),  # only the other spelling had it
                _reminder(dan, "forum", "planned"),
            ],
        )
    engine.dispose()

    engine = open_database(empty_database_url)  # upgrades to the newest schema
    with engine.connect() as connection:
        rows = {
            row.id: row
            for row in connection.execute(sa.select(subscribers).order_by(subscribers.c.id))
        }
        reminders = sorted(
            (row.subscriber_id, row.event_id, row.status, row.message_id)
            for row in connection.execute(sa.select(outbox))
        )

    summary = {
        i: (row.email, row.status, row.topics, row.timezone, row.generation)
        for i, row in rows.items()
    }
    assert summary == {
        carol: (
            "carol@example.org",
            "confirmed",
            "procurement supply-chains",
            "America/New_York",
            1,
        ),
        carol2: ("carol@ｅｘａｍｐｌｅ.org", "merged", "supply-chains", "America/New_York", 1),
        dan: ("dan@example.org", "confirmed", "procurement", "Europe/Brussels", 1),
        # A new subscription for Erin: her old links (of the one she left) stay dead.
        erin: ("erin@example.org", "pending", "circular-economy", "Europe/Brussels", 2),
        erin2: ("erin@ｅｘａｍｐｌｅ.org", "merged", "circular-economy", "Europe/Brussels", 1),
    }
    assert rows[carol].confirmed_at == JAN
    assert reminders == sorted(
        [
            (carol, "forum", "sent", "<a@x>"),
            (carol2, "forum", "sent", "<b@x>"),  # kept, where it was
            (carol, "summit", "planned", None),
            (carol2, "summit", "withdrawn", None),  # Carol gets it once
            (carol, "webinar", "planned", None),  # moved to the address she keeps
            (dan, "forum", "planned", None),
        ]
    )
    with engine.begin() as connection:
        # A sign-up under either spelling finds the subscriber kept...
        person, _ = store.request(connection, "CAROL@example.org", ["ict"], UTC_ZONE, JAN)
        assert person.id == carol and person.status == "confirmed"
        # ...and the unsubscribe link in a mail sent to the merged spelling ends it.
        assert store.unsubscribe(connection, carol2, TARGET, generation=1)
        kept = store.get(connection, carol)
        assert kept is not None and kept.status == "unsubscribed"
    engine.dispose()


def test_the_migrated_schema_is_the_one_the_code_describes(empty_database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from service.store.tables import metadata

    engine = open_database(empty_database_url)
    try:
        with engine.connect() as connection:
            options = {"compare_type": True, "compare_server_default": True}
            context = MigrationContext.configure(connection, opts=options)
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
