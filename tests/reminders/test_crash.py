"""A worker killed in the middle of a batch: nothing is lost, little is sent twice.

A worker process sends 500 due reminders to the test SMTP server and is killed (SIGKILL) once
the server has about 150 of them. A second worker takes over: every reminder arrives, and a
reminder arrives twice only if it was in flight at the kill (the server had it, the outbox
did not yet say so), and then with the same Message-ID, once the time its data could take
has passed.
"""

from __future__ import annotations

import collections
import signal
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from service.store.tables import outbox

from .conftest import Calfeed, Received, due_batch, settled, start_worker

PEOPLE = 50
EVENTS = 10  # 50 people x 10 events = 500 reminders
KILL_AT = 150


def all_arrived(count: int) -> Callable[[list[Received]], bool]:
    return lambda messages: len({m.message_id for m in messages}) >= count


def test_a_worker_killed_mid_batch_loses_nothing_and_resends_only_what_was_in_flight(
    calfeed: Calfeed, tmp_path: Path
) -> None:
    assert due_batch(calfeed, PEOPLE, EVENTS) == PEOPLE * EVENTS
    sink = calfeed.smtp.sink
    first = start_worker(calfeed, "first", tmp_path / "first.log")
    try:
        arrived = len(sink.wait_for(KILL_AT, timeout=30))
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait(timeout=10)
    assert arrived >= KILL_AT, (tmp_path / "first.log").read_text()
    at_kill = len(sink.messages)
    assert at_kill < PEOPLE * EVENTS, "the first worker finished before it could be killed"

    engine = sa.create_engine(f"sqlite:///{calfeed.root / 'var' / 'calfeed.sqlite3'}")
    try:
        with engine.connect() as connection:
            by_status: dict[str, int] = dict(
                connection.execute(
                    sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
                ).all()
            )
        assert by_status.get("sending", 0) > 0, f"nothing was in flight at the kill: {by_status}"

        second = start_worker(calfeed, "second", tmp_path / "second.log")
        try:
            sink.wait_until(all_arrived(PEOPLE * EVENTS), timeout=30)
            # The mail in flight at the kill stays the first worker's while its data could
            # still be going (6 s of waits, plus the lease): then the second sends it again.
            assert settled(engine, PEOPLE * EVENTS, timeout=30)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0, (tmp_path / "second.log").read_text()
            unique = {m.message_id for m in sink.messages}
        finally:
            second.kill()
            second.wait(timeout=10)

        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(outbox.c.status, outbox.c.message_id, outbox.c.claimed_by)
            ).all()
    finally:
        engine.dispose()

    assert collections.Counter(row.status for row in rows) == {"sent": PEOPLE * EVENTS}
    assert {row.message_id for row in rows} == unique, "a reminder never arrived"
    assert len(unique) == PEOPLE * EVENTS
    counts = collections.Counter(m.message_id for m in sink.messages)
    duplicates = {mid: n for mid, n in counts.items() if n > 1}
    # One SMTP transaction is in flight at a time; its outcome is committed right after.
    assert sum(n - 1 for n in duplicates.values()) <= 1, duplicates
    assert len(sink.messages) == PEOPLE * EVENTS + sum(n - 1 for n in duplicates.values())
    assert {row.claimed_by for row in rows} == {"first", "second"}
    for message_id in duplicates:
        copies = [m for m in sink.messages if m.message_id == message_id]
        assert len({m.to for m in copies}) == 1 and len({m.subject for m in copies}) == 1
