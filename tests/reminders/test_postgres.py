"""Several workers on one PostgreSQL database: never twice, never lost.

Each test gets a database of its own (``calfeed_test_<random>``, created on the server's
``postgres`` database and dropped afterwards), so runs never meet. The server is
``postgres@127.0.0.1:5432`` (trust auth), or ``$CALFEED_TEST_POSTGRES`` (a libpq conninfo).
Without a reachable server these tests skip, unless ``CALFEED_REQUIRE_POSTGRES=1`` (CI),
then they fail.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from service.live import LiveCatalog
from service.reminders import outbox, planner
from service.reminders import subscribers as subscriber_store
from service.reminders.heartbeats import NAME_LENGTH, worker_name
from service.store.database import open_database
from service.store.tables import outbox as outbox_table
from service.store.tables import subscribers

from .conftest import SECRET, Calfeed, due_batch


def calfeed_worker(calfeed: Calfeed, log: Path) -> subprocess.Popen[bytes]:
    """Start ``calfeed worker`` on the project, as an operator would."""
    command = Path(sys.executable).with_name("calfeed")
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [str(command), "--config", str(calfeed.root / "config.yaml"), "worker"],
            cwd=calfeed.root,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "CALFEED_SECRET_KEY": SECRET},
        )


def test_two_worker_processes_drain_2000_reminders_without_a_duplicate_or_a_loss(
    calfeed: Calfeed, pg_url: str, tmp_path: Path
) -> None:
    total = due_batch(calfeed, people=100, events=20, database=pg_url)
    assert total == 2000
    sink = calfeed.smtp.sink
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    processes = [calfeed_worker(calfeed, log) for log in logs]
    try:
        sink.wait_until(lambda messages: len(messages) >= total, timeout=60)
        time.sleep(0.3)  # a duplicate would arrive right behind
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=20) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
    errors = [log.read_text() for log in logs]
    assert codes == [0, 0], errors
    assert not [text for text in errors if "Traceback" in text or " ERROR " in text], errors

    received = collections.Counter(m.message_id for m in sink.messages)
    assert len(received) == total, f"lost: {total - len(received)}"
    assert [mid for mid, n in received.items() if n > 1] == [], "sent twice"
    assert len(sink.messages) == total
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    outbox_table.c.status, outbox_table.c.message_id, outbox_table.c.claimed_by
                )
            ).all()
    finally:
        engine.dispose()
    assert collections.Counter(r.status for r in rows) == {"sent": total}
    assert {r.message_id for r in rows} == set(received)
    by_worker = collections.Counter(r.claimed_by for r in rows)
    assert len(by_worker) == 2, f"both workers should have sent some: {by_worker}"
    per_person = collections.Counter(m.to for m in sink.messages)
    assert set(per_person.values()) == {20}  # each of 100 people: one mail per event


def test_claims_in_concurrent_transactions_never_take_the_same_reminder(
    calfeed: Calfeed, pg_url: str
) -> None:
    assert due_batch(calfeed, people=10, events=3, database=pg_url) == 30
    engine = open_database(pg_url)
    now = datetime.now(UTC)
    try:
        with engine.connect() as first, engine.connect() as second:
            with first.begin():
                mine = outbox.claim(first, "w1", now, limit=20)
                with second.begin():  # while the first still holds its rows
                    theirs = outbox.claim(second, "w2", now, limit=20)
            with second.begin():
                rest = outbox.claim(second, "w2", now, limit=20)
    finally:
        engine.dispose()

    assert len(mine) == 20
    assert len(theirs) == 10  # the ten the first did not lock; it did not wait for them
    assert rest == []
    assert not {c.id for c in mine} & {c.id for c in theirs}


def test_two_workers_planning_at_once_on_a_fresh_database_both_succeed(
    calfeed: Calfeed, pg_url: str
) -> None:
    # Two `calfeed worker` processes started together: both sync the config subscribers in
    # their first sweep. The second must not fail on the first's uncommitted rows.
    calfeed.configure(
        [{"email": f"p{n}@example.org", "topics": ["procurement"]} for n in range(3)],
        database=pg_url,
    )
    calfeed.event("webinar", start="2030-11-10T14:00", end="2030-11-10T16:00")
    live = LiveCatalog(calfeed.root / "config.yaml")
    catalog = live.edition.catalog
    now = datetime.now(UTC)
    failures: list[BaseException] = []

    def second_worker() -> None:
        try:
            planner.plan(live.engine, catalog, now)
        except BaseException as err:  # reported below
            failures.append(err)

    try:
        with live.engine.begin() as connection:
            subscriber_store.sync_configured(connection, catalog.config.subscribers, now)
            thread = threading.Thread(target=second_worker)
            thread.start()
            _wait_for_a_lock_wait(live.engine)  # the second worker waits for the first
        thread.join(timeout=30)
        with live.engine.connect() as connection:
            emails = connection.execute(sa.select(subscribers.c.email)).scalars().all()
    finally:
        live.close()

    assert failures == [], f"the second worker's planning failed: {failures[0]!r}"
    assert sorted(emails) == ["p0@example.org", "p1@example.org", "p2@example.org"]


def _wait_for_a_lock_wait(engine: sa.Engine, timeout: float = 3) -> bool:
    """Return True once a session of this database waits for a lock (bounded poll)."""
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            found = connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            connection.rollback()
            if found:
                return True
            time.sleep(0.02)
    return False


def test_reminders_plan_and_send_on_postgresql_as_on_sqlite(calfeed: Calfeed, pg_url: str) -> None:
    # The sender's whole path on PostgreSQL: a greylisted mail is retried, then sent once.
    assert due_batch(calfeed, people=2, events=1, database=pg_url) == 2
    sink = calfeed.smtp.sink
    sink.fail_next(1, "451 4.7.1 Greylisted")
    worker = calfeed.worker
    first = worker.sweep()
    assert first is not None and (first.sent, first.retried) == (1, 1)
    with worker.live.engine.begin() as connection:
        connection.execute(
            outbox_table.update()
            .where(outbox_table.c.status == "planned")
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )  # as if the backoff had passed
    second = worker.sweep()

    assert second is not None and second.sent == 1
    assert sorted(m.to for m in sink.messages) == [
        "person0000@example.org",
        "person0001@example.org",
    ]
    with worker.live.engine.connect() as connection:
        statuses = connection.execute(sa.select(outbox_table.c.status)).scalars().all()
    assert statuses == ["sent", "sent"]


def test_a_worker_on_a_long_hostname_claims_and_sends_on_postgresql(
    calfeed: Calfeed, pg_url: str
) -> None:
    # A hostname may be 253 characters; the worker's name must still fit where it is stored.
    assert due_batch(calfeed, people=2, events=1, database=pg_url) == 2
    name = worker_name("mail-worker-" + "a" * 241)
    assert len(name) <= NAME_LENGTH and name.startswith("mail-worker-aaaa")
    worker = calfeed.make_worker(name)
    outcome = worker.sweep()

    assert outcome is not None and outcome.sent == 2
    assert len(calfeed.smtp.sink.messages) == 2
    with worker.live.engine.connect() as connection:
        holders = connection.execute(sa.select(outbox_table.c.claimed_by)).scalars().all()
    assert holders == [name, name]
