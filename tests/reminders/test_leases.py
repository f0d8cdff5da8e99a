"""Never twice when the mail server is slow or a worker stops: leases, and the check before DATA.

Worker processes of their own send to the test SMTP server, which is made to answer slowly; one
worker is stopped (SIGSTOP) past its lease and let go again. Every reminder must arrive exactly
once, on SQLite (one worker sends, another stands by) and on PostgreSQL (both send).
"""

from __future__ import annotations

import collections
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from freezegun.api import FrozenDateTimeFactory

from service.reminders.transports import SmtpTransport, Waits
from service.store.tables import outbox

from .conftest import Calfeed, Received, due_batch, settled, start_worker, utc

LEASE = 1.0  # seconds: far shorter than a batch takes on the slow server


def engine_of(calfeed: Calfeed, database: str | None) -> sa.Engine:
    return sa.create_engine(database or f"sqlite:///{calfeed.root / 'var' / 'calfeed.sqlite3'}")


def stop_all(processes: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    """Stop the workers with SIGTERM; each must exit cleanly, without a traceback."""
    for process in processes:
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
    try:
        codes = [process.wait(timeout=30) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
    texts = [log.read_text() for log in logs]
    assert codes == [0] * len(processes), texts
    assert not [text for text in texts if "Traceback" in text], texts


def once_each(calfeed: Calfeed, database: str | None, total: int) -> None:
    """Assert every reminder arrived exactly once and the outbox says each was sent."""
    messages = calfeed.smtp.sink.messages
    counts = collections.Counter(m.message_id for m in messages)
    assert {mid: n for mid, n in counts.items() if n > 1} == {}, "sent twice"
    assert len(counts) == total, f"lost: {total - len(counts)}"
    engine = engine_of(calfeed, database)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(outbox.c.status, outbox.c.message_id)).all()
    finally:
        engine.dispose()
    assert collections.Counter(row.status for row in rows) == {"sent": total}
    assert {row.message_id for row in rows} == set(counts)


def test_two_workers_on_a_slow_server_send_each_reminder_once(
    calfeed: Calfeed, database: str | None, tmp_path: Path
) -> None:
    total = due_batch(calfeed, people=20, events=10, database=database)
    calfeed.smtp.sink.delay = 0.02  # a batch of 100 takes 6 s: six leases
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = start_worker(calfeed, "first", logs[0], lease=LEASE)
    processes = [first]
    try:
        calfeed.smtp.sink.wait_for(10, timeout=30)
        processes.append(start_worker(calfeed, "second", logs[1], lease=LEASE))
        engine = engine_of(calfeed, database)
        try:
            assert settled(engine, total, timeout=60), logs[0].read_text()
        finally:
            engine.dispose()
        time.sleep(0.5)  # a mail sent twice would arrive right behind
    finally:
        stop_all(processes, logs)

    once_each(calfeed, database, total)


def test_a_worker_stopped_past_its_lease_sends_nothing_another_worker_took(
    calfeed: Calfeed, database: str | None, tmp_path: Path
) -> None:
    total = due_batch(calfeed, people=20, events=10, database=database)
    sink = calfeed.smtp.sink
    sink.delay = 0.01
    logs = [tmp_path / "stopped.log", tmp_path / "other.log"]
    # A mail whose data may be going stays the stopped worker's for the handover (3 x 5 s)
    # and a lease; the stop is shorter than that, and longer than the lease of the others.
    stopped = start_worker(calfeed, "stopped", logs[0], lease=LEASE, wait=5.0)
    processes = [stopped]
    engine = engine_of(calfeed, database)
    try:
        sink.wait_for(30, timeout=30)
        stopped.send_signal(signal.SIGSTOP)  # mid-batch, with its rows claimed
        stopped_at = time.monotonic()
        processes.append(start_worker(calfeed, "other", logs[1], lease=LEASE))
        at_stop = len(sink.messages)
        sink.wait_for(at_stop + 40, timeout=10)  # the other worker takes over the rows
        time.sleep(max(0.0, stopped_at + 3 * LEASE - time.monotonic()))
        stopped.send_signal(signal.SIGCONT)  # it wakes up holding rows it no longer holds
        assert 3 * LEASE <= time.monotonic() - stopped_at < 15
        assert settled(engine, total, timeout=60), [log.read_text() for log in logs]
        time.sleep(0.5)
        with engine.connect() as connection:
            holders = connection.execute(sa.select(outbox.c.claimed_by)).scalars().all()
    finally:
        engine.dispose()
        stop_all(processes, logs)

    once_each(calfeed, database, total)
    assert set(holders) == {"stopped", "other"}


def test_a_server_slow_to_answer_the_end_of_a_mail_is_waited_for_and_not_sent_again(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    # Content filters check a mail before they answer its final dot; the other replies are
    # quick. The sender waits longest for that one reply, as RFC 5321 asks.
    calfeed.configure([{"email": "ann@example.org", "topics": ["procurement"]}])
    calfeed.event("webinar")
    calfeed.sweep()
    clock.move_to("2026-11-03 13:00:00")
    calfeed.smtp.sink.end_delay = 1.5
    waits = Waits(greeting=5, mail=0.5, rcpt=0.5, data=0.5, block=0.5, end=5)
    calfeed.worker.sender.transport = SmtpTransport(
        calfeed.smtp.host, calfeed.smtp.port, waits=waits
    )

    sent = calfeed.sweep()

    assert [m.to for m in sent] == ["ann@example.org"]
    (row,) = calfeed.outbox()
    assert (row["status"], row["attempts"], row["detail"]) == ("sent", 1, None)
    clock.move_to("2026-11-03 14:00:00")
    assert calfeed.sweep() == []
    assert len(calfeed.smtp.sink.messages) == 1


def test_the_waits_are_the_least_rfc_5321_asks_of_a_client() -> None:
    # RFC 5321, 4.5.3.2: 5 minutes for the greeting, MAIL and RCPT, 2 for DATA, 3 for each
    # block of data, 10 for the reply to the final dot.
    waits = Waits()
    assert (waits.greeting, waits.mail, waits.rcpt) == (300, 300, 300)
    assert (waits.data, waits.block, waits.end) == (120, 180, 600)
    assert waits.handover == timedelta(minutes=15)


def test_a_mail_in_flight_stays_its_workers_for_as_long_as_its_data_may_take(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([{"email": "ann@example.org", "topics": ["procurement"]}])
    calfeed.event("webinar")
    calfeed.sweep()
    clock.move_to("2026-11-03 13:00:00")
    leases: list[object] = []

    def look_at_the_lease(received: Received) -> None:
        leases.extend(r["lease_until"] for r in calfeed.outbox())

    calfeed.smtp.sink.on_message = look_at_the_lease
    (sent,) = calfeed.sweep()

    # While the data went: the handover (10 s for each of DATA, a block, the end) and a lease.
    assert leases == [utc("2026-11-03 13:00") + timedelta(seconds=30, minutes=5)]


def test_a_mail_that_cannot_be_composed_waits_with_the_reason_and_the_rest_go(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fails = "ann@example.org"
    calfeed.configure(
        [
            {"email": "ann@example.org", "topics": ["procurement"]},
            {"email": "bob@example.org", "topics": ["procurement"]},
        ]
    )
    calfeed.event("webinar")
    calfeed.sweep()
    clock.move_to("2026-11-03 13:00:00")
    sender = calfeed.worker.sender
    render = sender.render

    def render_failing_for_one(row, person, edition):  # type: ignore[no-untyped-def]
        if person.email == fails:
            raise ValueError("Header values may not contain linefeed or carriage return")
        return render(row, person, edition)

    monkeypatch.setattr(sender, "render", render_failing_for_one)
    sent = calfeed.sweep()

    assert [m.to for m in sent] == ["bob@example.org"]
    (row,) = [r for r in calfeed.outbox() if r["email"] == fails]
    assert (row["status"], row["attempts"]) == ("planned", 1)
    assert row["detail"] == (
        "cannot compose the mail: Header values may not contain linefeed or carriage return"
    )
    monkeypatch.undo()  # the operator fixes it: the mail goes at the next attempt
    clock.move_to("2026-11-03 13:01:00")
    assert [m.to for m in calfeed.sweep()] == [fails]
