"""The planner works on changes (``service/reminders/planner.py``, ``Planner``).

A worker's planner re-plans only what changed since its last sweep: an edited event, the
subscribers another process signed up, confirmed, changed, unsubscribed or erased, and the
reminders time brings into the horizon. These tests watch the SQL it sends (a
``before_cursor_execute`` listener on the real engine) beside what a subscriber would see,
on SQLite and on PostgreSQL, under frozen time.

The webinar starts Tue, 10 Nov 2026 13:00 UTC; its 7-day reminder is due 3 Nov 13:00 and
enters the two-day horizon on 1 Nov 13:00.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from freezegun.api import FrozenDateTimeFactory

from service.reminders import outbox as outbox_store
from service.reminders import records
from service.reminders import subscribers as subscriber_store
from service.reminders.planner import PlanResult
from service.store.database import open_database
from service.store.tables import outbox, subscriber_changes

from .conftest import Calfeed, utc

ANN = {"email": "ann@example.org", "topics": ["procurement"], "timezone": "UTC"}
BOB = {"email": "bob@example.org", "topics": ["procurement"], "timezone": "UTC"}
TITLE = "Circular Cities Webinar"
START = "2026-11-10 13:00:00"
START_7D = "2026-11-03 13:00:00"
WEEK = 7 * 86400

Statement = tuple[str, Any]


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[Statement]]:
    """Record every statement sent on ``engine`` (SQL and parameters) while inside."""
    seen: list[Statement] = []

    def record(_c: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        seen.append((sql, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def on_outbox(seen: list[Statement]) -> list[Statement]:
    return [(sql, p) for sql, p in seen if "outbox" in sql]


def reads(seen: list[Statement]) -> list[Statement]:
    """The statements that read reminders from the outbox."""
    return [(sql, p) for sql, p in on_outbox(seen) if sql.lstrip().upper().startswith("SELECT")]


def plan(calfeed: Calfeed) -> tuple[PlanResult, list[Statement]]:
    """Pick up the files' edits and run the worker's planner once; return what it sent."""
    worker = calfeed.worker
    worker.live.refresh()
    with statements(calfeed.engine) as seen:
        result = worker.planner.sweep(
            calfeed.engine, worker.live.edition.catalog, datetime.now(UTC)
        )
    return result, seen


def rows(calfeed: Calfeed, event_id: str | None = None) -> list[tuple[Any, ...]]:
    """Return (id, email, event, offset, target, status, detail) of the outbox rows."""
    return sorted(
        (r["id"], r["email"], r["event_id"], r["offset_seconds"], r["target_at"], r["status"])
        + (r["detail"],)
        for r in calfeed.outbox()
        if event_id is None or r["event_id"] == event_id
    )


@pytest.fixture
def web(calfeed: Calfeed) -> Iterator[Callable[[], sa.Engine]]:
    """Return an engine of its own on the project's database, as the web process has."""
    opened: list[sa.Engine] = []

    def engine() -> sa.Engine:
        if not opened:
            config = calfeed.worker.live.edition.catalog.config
            opened.append(open_database(config.database_url))
        return opened[0]

    try:
        yield engine
    finally:
        for each in opened:
            each.dispose()


def setup(calfeed: Calfeed, database: str | None, people: list[dict[str, Any]]) -> None:
    extra = {"database": database} if database else {}
    calfeed.configure(people, reminders={"before_start": ["7d", "1h"]}, **extra)
    calfeed.event(
        "webinar", title=TITLE, timezone="UTC", start="2026-11-10T13:00", end="2026-11-10T14:00"
    )
    calfeed.event(
        "forum", title="Forum", timezone="UTC", start="2026-11-10T15:00", end="2026-11-10T16:00"
    )


def test_a_sweep_with_nothing_changed_reads_and_writes_no_outbox_row(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, database: str | None
) -> None:
    setup(calfeed, database, [ANN, BOB])
    clock.move_to("2026-11-02 09:00:00")
    first, _ = plan(calfeed)
    assert first.planned == 4  # the 7-day reminders of both events, for both
    before = rows(calfeed)

    for _ in range(3):
        clock.tick(30)
        result, seen = plan(calfeed)
        assert result == PlanResult()
        assert on_outbox(seen) == []
        assert not [sql for sql, _ in seen if "subscribers" in sql and "changes" not in sql]
    assert rows(calfeed) == before


def test_an_edit_to_one_event_replans_only_it_and_its_reminders_follow_the_new_time(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, database: str | None
) -> None:
    setup(calfeed, database, [ANN, BOB])
    clock.move_to("2026-11-02 09:00:00")
    plan(calfeed)
    forum = rows(calfeed, "forum")

    clock.move_to("2026-11-02 10:00:00")  # the webinar moves a day earlier
    calfeed.event(
        "webinar", title=TITLE, timezone="UTC", start="2026-11-09T13:00", end="2026-11-09T14:00"
    )
    result, seen = plan(calfeed)

    assert (result.planned, result.withdrawn) == (2, 2)
    assert reads(seen), "the webinar's reminders are read"
    assert all("event_id" in sql and "webinar" in str(p) for sql, p in reads(seen))
    assert rows(calfeed, "forum") == forum  # untouched
    webinar = [(r[1], r[4], r[5], r[6]) for r in rows(calfeed, "webinar")]
    assert sorted(webinar) == [
        ("ann@example.org", utc("2026-11-09 13:00"), "planned", None),
        ("ann@example.org", utc(START), "withdrawn", "event moved or topics changed"),
        ("bob@example.org", utc("2026-11-09 13:00"), "planned", None),
        ("bob@example.org", utc(START), "withdrawn", "event moved or topics changed"),
    ]

    clock.move_to("2026-11-02 13:00:00")  # its new 7-day reminder is due now
    sent = calfeed.sweep()
    assert sorted((m.to, m.subject) for m in sent) == [
        ("ann@example.org", f"Starts in 7 days: {TITLE}"),
        ("bob@example.org", f"Starts in 7 days: {TITLE}"),
    ]
    assert "Mon, 9 Nov 2026, 13:00" in sent[0].text()


def test_an_edit_that_changes_nothing_planned_reads_no_outbox_row(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, database: str | None
) -> None:
    setup(calfeed, database, [ANN])
    clock.move_to("2026-11-02 09:00:00")
    plan(calfeed)
    calfeed.event(
        "webinar",
        title="A better title",
        timezone="UTC",
        start="2026-11-10T13:00",
        end="2026-11-10T14:00",
    )
    result, seen = plan(calfeed)
    assert result == PlanResult()
    assert on_outbox(seen) == []
    assert calfeed.worker.live.edition.catalog.by_id["webinar"].title == "A better title"


def test_what_another_process_does_to_subscribers_is_planned_at_the_next_sweep(
    calfeed: Calfeed,
    clock: FrozenDateTimeFactory,
    database: str | None,
    web: Callable[[], sa.Engine],
) -> None:
    setup(calfeed, database, [ANN])
    clock.move_to("2026-11-02 09:00:00")
    plan(calfeed)
    ann = rows(calfeed)
    now = utc("2026-11-02 09:00")
    brussels = ZoneInfo("Europe/Brussels")

    def person(email: str) -> list[tuple[Any, ...]]:
        return sorted((r[2], r[3], r[5], r[6]) for r in rows(calfeed) if r[1] == email)

    def replanned(email: str) -> list[Statement]:
        """Plan; check that only ``email``'s reminders were read and Ann's were left be."""
        result, seen = plan(calfeed)
        found = calfeed.subscriber_id(email) if email != "gone" else None
        for sql, parameters in reads(seen):
            assert "subscriber_id IN" in sql, sql
            values = parameters.values() if isinstance(parameters, dict) else parameters
            assert found is None or found in values, parameters
        assert [r for r in rows(calfeed) if r[1] == "ann@example.org"] == ann
        return seen

    # A sign-up: nothing until she confirms.
    with web().begin() as connection:
        dora, _ = subscriber_store.request(
            connection, "dora@example.org", ["procurement"], brussels, now
        )
    replanned("dora@example.org")
    assert person("dora@example.org") == []
    with web().begin() as connection:
        assert subscriber_store.confirm(connection, dora.id, now)
    replanned("dora@example.org")
    assert person("dora@example.org") == [
        ("forum", WEEK, "planned", None),
        ("webinar", WEEK, "planned", None),
    ]

    # Other topics: withdrawn; the topic chosen again: restored.
    with web().begin() as connection:
        subscriber_store.update(connection, dora.id, ["circular-economy"], brussels)
    replanned("dora@example.org")
    assert {r[2:] for r in person("dora@example.org")} == {
        ("withdrawn", "event moved or topics changed")
    }
    with web().begin() as connection:
        subscriber_store.update(connection, dora.id, ["procurement"], brussels)
    replanned("dora@example.org")
    assert {r[2:] for r in person("dora@example.org")} == {("planned", None)}

    # Unsubscribing withdraws at once; the planner does not bring it back.
    with web().begin() as connection:
        assert subscriber_store.unsubscribe(connection, dora.id, now)
    replanned("dora@example.org")
    assert {r[2:] for r in person("dora@example.org")} == {("withdrawn", "subscriber left")}

    # Signing up again (a new subscription) and confirming restores her reminders.
    clock.move_to("2026-11-02 09:30:00")
    with web().begin() as connection:
        again, mail = subscriber_store.request(
            connection, "dora@example.org", ["procurement"], brussels, now
        )
        assert (again.status, mail) == ("pending", "confirm")
        assert subscriber_store.confirm(connection, dora.id, utc("2026-11-02 09:30"))
    replanned("dora@example.org")
    assert {r[2:] for r in person("dora@example.org")} == {("planned", None)}

    # Erased: nothing of her is left, and the planner plans nothing for her.
    with web().begin() as connection:
        assert records.erase(connection, calfeed.worker.live.edition.catalog.config, dora.email)
    replanned("gone")
    assert person("dora@example.org") == []
    assert rows(calfeed) == ann

    clock.move_to(START_7D)
    assert [m.to for m in calfeed.sweep()] == ["ann@example.org"]


def test_time_passing_brings_reminders_into_the_horizon_without_any_change(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, database: str | None
) -> None:
    setup(calfeed, database, [ANN])
    plan(calfeed)  # 1 Oct: nothing is near
    assert rows(calfeed) == []

    clock.move_to("2026-11-01 12:59:59")  # a second before the webinar's 7-day reminder enters
    result, seen = plan(calfeed)
    assert (result, on_outbox(seen)) == (PlanResult(), [])

    clock.move_to("2026-11-01 13:00:00")
    result, seen = plan(calfeed)
    assert result.planned == 1
    assert reads(seen) and all("webinar" in str(p) for _, p in reads(seen))
    assert [(r[2], r[3], r[5]) for r in rows(calfeed)] == [("webinar", WEEK, "planned")]

    clock.move_to("2026-11-01 14:59:00")  # the forum's is still a minute away
    assert plan(calfeed)[0] == PlanResult()
    clock.move_to("2026-11-01 15:30:00")
    assert plan(calfeed)[0].planned == 1
    clock.move_to(START_7D)
    assert [m.subject for m in calfeed.sweep()] == [f"Starts in 7 days: {TITLE}"]


def test_a_reminder_in_flight_when_its_event_is_cancelled_still_brings_one_notice(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, database: str | None
) -> None:
    setup(calfeed, database, [ANN])
    plan(calfeed)  # 1 Oct: Ann is confirmed
    clock.move_to(START_7D)
    plan(calfeed)  # the webinar's 7-day reminder, due now
    now = utc(START_7D)
    with calfeed.engine.begin() as connection:  # another worker's sender takes it
        (claimed,) = outbox_store.claim(connection, "worker-b", now, limit=1)
    assert claimed.event_id == "webinar"

    clock.move_to("2026-11-03 13:01:00")
    calfeed.event(
        "webinar",
        title=TITLE,
        timezone="UTC",
        start="2026-11-10T13:00",
        end="2026-11-10T14:00",
        status="cancelled",
    )
    result, _ = plan(calfeed)
    assert result.notices == 0  # not sent (yet): nothing to call off

    with calfeed.engine.begin() as connection:  # its mail went just before the check
        sent = outbox_store.Sent(claimed, now, "<in-flight@events.example.org>")
        assert outbox_store.record_sent(connection, sent, "worker-b")
    clock.move_to("2026-11-03 13:01:30")
    result, _ = plan(calfeed)  # nothing changed in the catalog or the subscribers
    assert result.notices == 1

    clock.move_to("2026-11-03 13:02:00")
    result, seen = plan(calfeed)
    assert (result, on_outbox(seen)) == (PlanResult(), [])  # nothing is in flight any more
    notices = calfeed.sweep()
    assert [(m.to, m.subject) for m in notices] == [("ann@example.org", f"Cancelled: {TITLE}")]
    for moment in ("2026-11-04 09:00:00", "2026-11-09 13:00:00"):
        clock.move_to(moment)
        assert [m.subject for m in calfeed.sweep() if TITLE in m.subject] == []


def test_a_log_pruned_past_what_the_planner_saw_makes_a_full_plan(
    calfeed: Calfeed,
    clock: FrozenDateTimeFactory,
    database: str | None,
    web: Callable[[], sa.Engine],
) -> None:
    setup(calfeed, database, [ANN])
    clock.move_to("2026-11-02 09:00:00")
    plan(calfeed)
    now = utc("2026-11-02 09:00")
    with web().begin() as connection:
        dora, _ = subscriber_store.request(
            connection, "dora@example.org", ["procurement"], ZoneInfo("UTC"), now
        )
        subscriber_store.confirm(connection, dora.id, now)
        subscriber_store.request(connection, "eve@example.org", ["x"], ZoneInfo("UTC"), now)
        last = connection.execute(sa.select(sa.func.max(subscriber_changes.c.id))).scalar()
        # As after a day without a sweep: only the last entry is kept.
        connection.execute(subscriber_changes.delete().where(subscriber_changes.c.id < last))
    result, seen = plan(calfeed)
    assert result.planned == 2  # Dora's, although the log no longer names her
    assert any("subscriber_id IN" not in sql for sql, _ in reads(seen))  # everyone's


def test_two_workers_planning_the_same_changes_at_once_never_plan_twice(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, pg_url: str, web: Callable[[], sa.Engine]
) -> None:
    people = [{"email": f"p{n}@example.org", "topics": ["procurement"]} for n in range(20)]
    setup(calfeed, pg_url, people)
    workers = [calfeed.worker, calfeed.make_worker("worker-b")]
    failures: list[BaseException] = []

    def together() -> None:
        def run(worker: Any) -> None:
            try:
                worker.live.refresh()
                worker.planner.sweep(
                    worker.live.engine, worker.live.edition.catalog, datetime.now(UTC)
                )
            except BaseException as err:  # reported below
                failures.append(err)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    clock.move_to("2026-11-02 09:00:00")
    together()  # both plan everything at once
    now = utc("2026-11-02 09:00")
    with web().begin() as connection:
        for n in range(5):
            found, _ = subscriber_store.request(
                connection, f"web{n}@example.org", ["procurement"], ZoneInfo("UTC"), now
            )
            subscriber_store.confirm(connection, found.id, now)
    calfeed.event(
        "webinar", title=TITLE, timezone="UTC", start="2026-11-09T13:00", end="2026-11-09T14:00"
    )
    together()  # both plan the sign-ups and the moved webinar at once
    clock.move_to("2026-11-02 13:00:00")
    together()
    assert failures == []

    with calfeed.engine.connect() as connection:
        keys = connection.execute(
            sa.select(
                outbox.c.subscriber_id, outbox.c.event_id, outbox.c.kind, outbox.c.target_at
            ).where(outbox.c.status == "planned")
        ).all()
    assert len(keys) == len(set(keys)) == 2 * 25
    sent = [m.to for w in workers for m in _sweep(calfeed, w)]
    assert len(sent) == 25  # the webinar's new 7-day reminder, due now, once each
    assert set(Counter(sent).values()) == {1}


def _sweep(calfeed: Calfeed, worker: Any) -> list[Any]:
    before = len(calfeed.smtp.sink.messages)
    worker.sweep()
    return calfeed.smtp.sink.messages[before:]
