"""Revisions (``service/store/revisions.py``): the SEQUENCE and LAST-MODIFIED clients see.

A calendar client replaces an entry only when its SEQUENCE rises, so a store must raise it
exactly once per change, keep it for unchanged content, remember it across restarts, and
stay exact when two processes revise the same entry at once. Every test runs on a SQLite
file and on PostgreSQL (postgresql+psycopg://postgres@127.0.0.1:5432/test, in a schema of
its own that is dropped afterwards). Without a reachable PostgreSQL those runs are skipped,
or fail when CALFEED_REQUIRE_POSTGRES=1 (as CI sets it).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from service.store.database import open_database
from service.store.revisions import Revision, RevisionStore
from service.store.tables import revisions

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 2, 17, 45, 30, tzinfo=UTC)
T3 = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
KEY = "webinar@events.example.org"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'revisions.sqlite3'}"
        return
    schema = f"calfeed_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as err:
        admin.dispose()
        reason = f"PostgreSQL at {POSTGRES} is not reachable: {err.orig}"
        if os.environ.get("CALFEED_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}; CALFEED_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(f"{reason}; set CALFEED_REQUIRE_POSTGRES=1 to fail instead")
    try:
        yield f"{POSTGRES}?connect_timeout=5&options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def make_store(database_url: str) -> Iterator[Callable[[Callable[[], datetime]], RevisionStore]]:
    """Return ``make(clock)``: a store with an engine of its own, as another process has."""
    engines: list[sa.Engine] = []

    def make(clock: Callable[[], datetime]) -> RevisionStore:
        engines.append(open_database(database_url))
        return RevisionStore(engines[-1], clock)

    yield make
    for engine in engines:
        engine.dispose()


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def stored(store: RevisionStore) -> dict[str, tuple[str, int, datetime]]:
    """Return every row as the database holds it: uid -> (hash, sequence, last_modified)."""
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(revisions))
        return {row.uid: (row.content_hash, row.sequence, row.last_modified) for row in rows}


def test_a_new_key_starts_at_sequence_zero_at_the_clocks_time(
    make_store: Callable[..., RevisionStore],
) -> None:
    store = make_store(at(T1))

    revised = store.revise({KEY: "a" * 64, "other": "b" * 64})

    assert revised == {KEY: Revision(0, T1), "other": Revision(0, T1)}
    assert stored(store)[KEY] == ("a" * 64, 0, T1)


def test_the_same_hash_keeps_its_revision(make_store: Callable[..., RevisionStore]) -> None:
    store = make_store(at(T1))
    store.revise({KEY: "a" * 64})
    store.clock = at(T2)

    assert store.revise({KEY: "a" * 64}) == {KEY: Revision(0, T1)}
    assert stored(store)[KEY] == ("a" * 64, 0, T1)


def test_a_new_hash_raises_the_sequence_and_takes_the_clocks_time(
    make_store: Callable[..., RevisionStore],
) -> None:
    store = make_store(at(T1))
    store.revise({KEY: "a" * 64, "other": "b" * 64})
    store.clock = at(T2)

    revised = store.revise({KEY: "c" * 64, "other": "b" * 64})

    assert revised == {KEY: Revision(1, T2), "other": Revision(0, T1)}
    assert stored(store)[KEY] == ("c" * 64, 1, T2)


def test_reverting_to_an_old_hash_raises_the_sequence_again(
    make_store: Callable[..., RevisionStore],
) -> None:
    store = make_store(at(T1))
    store.revise({KEY: "a" * 64})
    store.clock = at(T2)
    store.revise({KEY: "b" * 64})
    store.clock = at(T3)

    assert store.revise({KEY: "a" * 64}) == {KEY: Revision(2, T3)}


def test_revisions_outlive_the_process(make_store: Callable[..., RevisionStore]) -> None:
    first = make_store(at(T1))
    first.revise({KEY: "a" * 64})
    first.engine.dispose()

    again = make_store(at(T3))

    assert again.revise({KEY: "a" * 64}) == {KEY: Revision(0, T1)}
    assert again.revise({KEY: "b" * 64}) == {KEY: Revision(1, T3)}


def test_a_clock_in_another_zone_records_the_same_instant(
    make_store: Callable[..., RevisionStore],
) -> None:
    brussels_summer = timezone(timedelta(hours=2))
    store = make_store(at(T2.astimezone(brussels_summer)))

    (revision,) = store.revise({KEY: "a" * 64}).values()

    assert revision.last_modified == T2
    assert revision.last_modified.utcoffset() == timedelta(0)
    assert stored(store)[KEY][2] == T2


def test_many_keys_at_once_are_revised_whole(make_store: Callable[..., RevisionStore]) -> None:
    store = make_store(at(T1))
    keys = [f"event-{index}@events.example.org" for index in range(1234)]
    store.revise({key: "a" * 64 for key in keys[:600]})
    store.clock = at(T2)

    revised = store.revise({key: ("b" if i % 2 else "a") * 64 for i, key in enumerate(keys)})

    assert len(revised) == len(keys)
    assert {key: revised[key] for key in keys[:4]} == {
        keys[0]: Revision(0, T1),
        keys[1]: Revision(1, T2),
        keys[2]: Revision(0, T1),
        keys[3]: Revision(1, T2),
    }
    assert {revised[key] for key in keys[600:]} == {Revision(0, T2)}
    assert len(stored(store)) == len(keys)


def raced(
    make_store: Callable[..., RevisionStore], hashes: dict[str, str]
) -> list[dict[str, Revision]]:
    """Revise ``hashes`` from two stores at once, both past their read before either writes.

    The clock is read between a store's read and its writes, so a barrier there makes sure
    both have seen the old state: the race a naive read-modify-write would lose.
    """
    barrier = threading.Barrier(2, timeout=30)

    def clock() -> datetime:
        barrier.wait()
        return T2

    stores = [make_store(clock), make_store(clock)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [pool.submit(store.revise, hashes) for store in stores]
        return [result.result(timeout=60) for result in results]


def test_two_processes_revising_a_changed_key_at_once_raise_it_once(
    make_store: Callable[..., RevisionStore],
) -> None:
    setup = make_store(at(T1))
    setup.revise({KEY: "a" * 64})

    results = raced(make_store, {KEY: "b" * 64})

    assert results == [{KEY: Revision(1, T2)}, {KEY: Revision(1, T2)}]
    assert stored(setup)[KEY] == ("b" * 64, 1, T2)


def test_two_processes_adding_a_new_key_at_once_both_start_at_zero(
    make_store: Callable[..., RevisionStore],
) -> None:
    results = raced(make_store, {KEY: "a" * 64})

    assert results == [{KEY: Revision(0, T2)}, {KEY: Revision(0, T2)}]
    assert stored(make_store(at(T3))) == {KEY: ("a" * 64, 0, T2)}
