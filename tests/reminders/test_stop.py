"""Stopping as systemd and docker stop: SIGTERM to a real ``calfeed run`` or ``calfeed worker``.

The process gets SIGTERM in the middle of a batch of due reminders. It finishes the mail in
hand, hands the rest back, gives up its heartbeat and exits 0; a worker started right after
sends the rest at once, each reminder exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from ports import free_port

from service.store.database import open_database
from service.store.tables import outbox, workers

from .conftest import SECRET, Calfeed, due_batch

CALFEED = Path(sys.executable).with_name("calfeed")
PEOPLE, EVENTS = 10, 6  # 60 reminders, due now
SIGNAL_AT = 10  # mails the server has when the signal goes
STALL = 0.02  # seconds the server takes per mail, so that a batch lasts a few seconds


def start(calfeed: Calfeed, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``calfeed ARGS`` on the project as a process of its own, output into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(CALFEED), "--config", str(calfeed.root / "config.yaml"), *args],
            cwd=calfeed.root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CALFEED_SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1"},
        )


def stop(process: subprocess.Popen[bytes], log: Path) -> int:
    """Send SIGTERM and return the exit status (within 20 s, or fail)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"still running 20 s after SIGTERM:\n{log.read_text()}") from None


def rows(calfeed: Calfeed) -> tuple[Counter[str], int]:
    """Return the outbox rows by status, and how many workers hold a heartbeat row."""
    engine = open_database(f"sqlite:///{calfeed.root / 'var' / 'calfeed.sqlite3'}")
    try:
        with engine.connect() as connection:
            statuses = Counter(s for (s,) in connection.execute(sa.select(outbox.c.status)))
            beating = connection.execute(sa.select(sa.func.count()).select_from(workers))
            return statuses, beating.scalar_one()
    finally:
        engine.dispose()


def sigterm_mid_batch(calfeed: Calfeed, args: list[str], tmp_path: Path) -> None:
    total = due_batch(calfeed, PEOPLE, EVENTS)
    sink = calfeed.smtp.sink
    sink.on_message = lambda _: time.sleep(STALL)
    first = start(calfeed, args, tmp_path / "first.log")
    try:
        arrived = sink.wait_for(SIGNAL_AT, timeout=30)
        assert len(arrived) >= SIGNAL_AT, (tmp_path / "first.log").read_text()
    finally:
        status = stop(first, tmp_path / "first.log")

    assert status == 0, (tmp_path / "first.log").read_text()
    sent_before = len(sink.messages)
    assert sent_before <= SIGNAL_AT + 3  # the mail in hand, not the rest of the batch
    statuses, beating = rows(calfeed)
    assert statuses == {"sent": sent_before, "planned": total - sent_before}
    assert beating == 0  # the heartbeat row is given up: nobody waits for it to go stale

    sink.on_message = None
    started = time.monotonic()
    second = start(calfeed, ["worker"], tmp_path / "second.log")
    try:
        sink.wait_until(lambda messages: len(messages) >= total, timeout=30)
        took = time.monotonic() - started
    finally:
        assert stop(second, tmp_path / "second.log") == 0
    assert took < 20, (tmp_path / "second.log").read_text()  # no stand-by behind a stale row
    assert "standing by" not in (tmp_path / "second.log").read_text()
    assert sorted(Counter(m.message_id for m in sink.messages).values()) == [1] * total
    assert rows(calfeed) == ({"sent": total}, 0)


def test_calfeed_run_stops_on_sigterm_after_the_mail_in_hand(
    calfeed: Calfeed, tmp_path: Path
) -> None:
    sigterm_mid_batch(calfeed, ["run", "--port", str(free_port())], tmp_path)


def test_calfeed_worker_stops_on_sigterm_after_the_mail_in_hand(
    calfeed: Calfeed, tmp_path: Path
) -> None:
    sigterm_mid_batch(calfeed, ["worker"], tmp_path)
