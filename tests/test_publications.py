"""Publications (``service/store/publications.py``): an event's first start, kept for good.

An event whose start moved since it was first published is rescheduled, so the first start
must be written once, survive a restart, never follow an edit, and stay the first one when
two processes publish the same new event at once. Runs on SQLite and on PostgreSQL (the
``database_url`` fixture of the revisions tests).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import test_revisions

from service.store.database import open_database
from service.store.publications import Publication, PublicationStore

database_url = test_revisions.database_url  # the same databases: SQLite, PostgreSQL

FIRST = datetime(2020, 12, 7, 13, 0, tzinfo=UTC)
MOVED = datetime(2020, 12, 14, 13, 0, tzinfo=UTC)
T1 = datetime(2020, 11, 1, 9, 0, tzinfo=UTC)
T2 = datetime(2020, 11, 5, 9, 0, tzinfo=UTC)


def test_the_first_start_is_kept_through_edits_and_restarts(database_url: str) -> None:
    engine = open_database(database_url)
    first = PublicationStore(engine, clock=lambda: T1).record({"webinar": FIRST})
    engine.dispose()

    engine = open_database(database_url)
    later = PublicationStore(engine, clock=lambda: T2).record({"webinar": MOVED, "forum": MOVED})
    engine.dispose()

    assert first == {"webinar": Publication(FIRST, T1)}
    assert later == {"webinar": Publication(FIRST, T1), "forum": Publication(MOVED, T2)}


def test_many_events_at_once_and_two_writers_agree(database_url: str) -> None:
    engine = open_database(database_url)
    starts = {f"event-{n}": FIRST for n in range(1200)}  # more than one batch
    stores = [
        PublicationStore(engine, clock=lambda: T1),
        PublicationStore(engine, clock=lambda: T2),
    ]
    try:
        with ThreadPoolExecutor(2) as pool:
            one, two = pool.map(lambda store: store.record(starts), stores)
    finally:
        engine.dispose()

    assert one == two
    assert len(one) == 1200 and {p.first_start for p in one.values()} == {FIRST}
