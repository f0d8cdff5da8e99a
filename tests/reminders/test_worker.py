"""The worker (``service/reminders/worker.py``): on time, one sender on SQLite, fresh edits.

Three tests start APScheduler (each takes a few seconds): one with the worker's clock moved
by hand, two on the real clock, with margins of seconds against a sweep every 30 s. The rest
call ``sweep()`` and ``wake()`` the way the scheduler does, under frozen time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from freezegun.api import FrozenDateTimeFactory

from service.reminders import outbox as outbox_store
from service.reminders import subscribers as subscriber_store
from service.reminders.worker import worker_for
from service.store.tables import outbox, workers
from service.tokens import Tokens

from .conftest import Calfeed, check_mail, utc

ANN = {"email": "ann@example.org", "topics": ["procurement"]}
TITLE = "Circular Cities Webinar"


def wait_until(condition: Any, timeout: float) -> bool:
    """Poll ``condition`` every 20 ms for at most ``timeout`` real seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def beating(calfeed: Calfeed) -> list[str]:
    with calfeed.engine.connect() as connection:
        return list(connection.execute(sa.select(workers.c.name)).scalars())


class HandClock:
    """A worker clock (``service.clock.Clock``) that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_reminder_leaves_at_its_due_time_through_the_wake_job_not_the_next_sweep(
    calfeed: Calfeed,
) -> None:
    # The worker's clock is moved by hand; APScheduler runs on the real one. The first sweep
    # runs a second before the due time: it plans the reminder and sets the wake job. The next
    # sweep is 30 real seconds away and no look runs (look_every is not shorter), so a mail
    # within 10 s of the due time is the wake job's; the outbox says when the clock let it go.
    due = utc("2030-11-10 13:00")
    calfeed.configure([ANN], reminders={"before_start": ["1h"]})
    calfeed.event(
        "webinar", title=TITLE, timezone="UTC", start="2030-11-10T14:00", end="2030-11-10T15:00"
    )
    clock = HandClock(due - timedelta(seconds=1))
    worker = calfeed.make_worker("worker-a", clock=clock, look_every=30.0)
    assert worker.sweep_every == 30.0

    worker.start()
    try:
        assert wait_until(lambda: worker.active, timeout=10), "the worker never swept"
        early = worker.wake()  # after the first sweep (it waits for it), still before due
        assert early is not None and early.sent == 0
        assert calfeed.smtp.sink.messages == []
        clock.now = due
        received = calfeed.smtp.sink.wait_for(1, timeout=10)
    finally:
        worker.stop()

    assert len(received) == 1, "the reminder waited for the next sweep"
    assert received[0].subject == f"Starts in 1 hour: {TITLE}"
    check_mail(received[0], "webinar", calfeed.tokens)
    with calfeed.engine.connect() as connection:
        sent = connection.execute(sa.select(outbox.c.sent_at, outbox.c.status)).all()
    assert [tuple(row) for row in sent] == [(due, "sent")]


def test_a_sign_up_taken_by_a_separate_web_process_is_mailed_before_the_next_sweep(
    calfeed: Calfeed,
) -> None:
    # Real clock. With `calfeed serve` and `calfeed worker` apart, the web process only writes
    # the confirmation into the outbox. The sweep runs every 30 s; the look finds it sooner.
    calfeed.configure([])
    worker = calfeed.make_worker("worker-b", look_every=0.3)
    web = sa.create_engine(calfeed.engine.url)  # the web process's own database connection
    worker.start()
    try:
        assert wait_until(lambda: worker.active, timeout=10), "the worker never swept"
        worker.wake()  # returns once the first sweep is over: only a look can find the sign-up
        with web.begin() as connection:
            now = datetime.now(UTC)
            person, _ = subscriber_store.request(
                connection, "nina@example.org", ["procurement"], ZoneInfo("Europe/Oslo"), now
            )
            outbox_store.queue_account_mail(
                connection, person.id, "confirm", now, timedelta(hours=72)
            )
        received = calfeed.smtp.sink.wait_for(1, timeout=10)
    finally:
        worker.stop()
        web.dispose()

    assert [m.to for m in received] == ["nina@example.org"]
    assert received[0].subject.startswith("Confirm your reminders")
    late = received[0].at - now
    assert late < timedelta(seconds=worker.sweep_every), f"the confirmation took {late}"


def test_a_second_worker_on_sqlite_stands_by_and_takes_over_when_the_first_stops(
    calfeed: Calfeed,
) -> None:
    # Real clock, with the first worker's scheduler running.
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE, start="2030-11-10T14:00", end="2030-11-10T16:00")
    first = calfeed.make_worker("worker-a")
    first.start()
    try:
        assert wait_until(lambda: "worker-a" in beating(calfeed), timeout=5)
        second = calfeed.make_worker("worker-b")
        assert second.sweep() is None  # the first is beating: stand by
        assert second.wake() is None
        assert beating(calfeed) == ["worker-a"]
    finally:
        first.stop()

    assert beating(calfeed) == []
    outcome = second.sweep()
    assert outcome is not None and outcome.errors == []
    assert beating(calfeed) == ["worker-b"]


def test_a_standby_worker_sends_once_the_first_stops_beating(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE)
    first = calfeed.make_worker("worker-a")
    assert first.sweep() is not None
    clock.tick(1)
    second = calfeed.make_worker("worker-b")
    assert second.sweep() is None

    clock.move_to("2026-11-03 13:00:00")
    assert first.sweep() is not None  # sends the 7-day reminder
    clock.move_to("2026-11-03 13:01:00")
    assert second.sweep() is None  # the first beat a minute ago: still standing by

    # The first worker dies. Its last heartbeat ages; the second takes over.
    clock.move_to("2026-11-09 13:00:00")
    outcome = second.sweep()
    assert outcome is not None and outcome.sent == 1

    assert [(m.to, m.subject) for m in calfeed.smtp.sink.messages] == [
        ("ann@example.org", f"Starts in 7 days: {TITLE}"),
        ("ann@example.org", f"Starts in 1 day: {TITLE}"),
    ]
    with calfeed.engine.connect() as connection:
        senders = connection.execute(
            sa.select(outbox.c.offset_seconds, outbox.c.claimed_by)
            .where(outbox.c.status == "sent")
            .order_by(outbox.c.due_at)
        ).all()
    assert [tuple(row) for row in senders] == [
        (7 * 86400, "worker-a"),
        (86400, "worker-b"),
    ]


def test_wake_sends_nothing_for_an_event_cancelled_since_the_last_sweep(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    # `calfeed worker` has no file watcher: between two sweeps (30 s apart) only wake() runs.
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE)
    worker = calfeed.worker
    worker.sweep()
    clock.move_to("2026-11-03 12:59:40")
    assert worker.sweep() is not None  # the 7-day reminder is planned for 13:00

    clock.move_to("2026-11-03 12:59:50")
    calfeed.event("webinar", title=TITLE, status="cancelled")  # the operator cancels it
    clock.move_to("2026-11-03 13:00:00")
    worker.wake()  # the wake job at the reminder's due time, before the next sweep

    assert calfeed.smtp.sink.subjects == []
    clock.move_to("2026-11-03 13:00:10")
    worker.sweep()
    assert calfeed.smtp.sink.subjects == []  # and no cancellation notice: nobody was reminded


def test_worker_for_mails_through_the_smtp_server_config_yaml_names(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALFEED_SECRET_KEY", "worker-for-key")
    calfeed.configure(
        [ANN],
        mail={
            "from": "Events <events@example.org>",
            "transport": "smtp",
            "smtp": {"host": calfeed.smtp.host, "port": calfeed.smtp.port, "starttls": False},
        },
    )
    calfeed.event("webinar", title=TITLE)
    worker = worker_for(calfeed.open(), name="configured")
    worker.sweep()
    clock.move_to("2026-11-03 13:00:00")
    outcome = worker.sweep()

    assert outcome is not None and outcome.sent == 1
    (received,) = calfeed.smtp.sink.messages
    assert (received.mail_from, received.rcpt_tos) == ("events@example.org", ("ann@example.org",))
    assert received.message["From"] == "Events <events@example.org>"
    check_mail(received, "webinar", Tokens("worker-for-key"))
    assert utc("2026-11-03 13:00") == datetime.now(UTC)
