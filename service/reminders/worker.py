"""The worker: APScheduler decides when, the database decides what.

APScheduler 3 drops a date job from its store before running it and must not share a job
store between processes, so it holds nothing that matters: a periodic sweep (heartbeat,
plan, send), one "wake" job at the next due instant, and a frequent, cheap look for mail
another process queued (a sign-up on a separate web server), all rebuilt from the database
at start. That way a reminder leaves within a second or so of its due time, and a
confirmation mail within seconds of the sign-up, not at the next sweep.

Several workers may share a PostgreSQL database. On SQLite one worker sends at a time: a
second one stands by until the first stops sending heartbeats.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from ..clock import Clock, precise_now
from ..live import LiveCatalog
from ..tokens import Tokens
from . import digests, heartbeats, notices, outbox, planner
from .sender import Outcome, Sender
from .transports import Transport, transport_for

log = logging.getLogger(__name__)


class Worker:
    """Plan and send reminders in the background of this process."""

    def __init__(
        self,
        live: LiveCatalog,
        transport: Transport,
        tokens: Tokens,
        *,
        clock: Clock = precise_now,
        sweep_every: float = 30.0,
        look_every: float = 3.0,
        lease: timedelta = outbox.LEASE,
        name: str | None = None,
    ) -> None:
        self.live = live
        self.clock = clock
        self.sweep_every, self.look_every = sweep_every, look_every
        self.name = name or heartbeats.worker_name()
        self.sender = Sender(live, transport, tokens, self.name, clock=clock, lease=lease)
        self.planner = planner.Planner()  # what it planned last: the next sweep plans changes
        self.digests = digests.DigestPlanner()  # digests and new-event mails, after it
        self.notices = notices.NoticePlanner()  # what each event was last seen as
        self.started_at = clock()
        self.active = False
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self) -> None:
        """Start sweeping now and every ``sweep_every`` seconds."""
        self._scheduler.add_job(
            self.sweep,
            "interval",
            seconds=self.sweep_every,
            id="sweep",
            next_run_time=datetime.now(UTC),
        )
        # The heartbeat goes on while a long sweep sends: the worker is alive, not gone.
        self._scheduler.add_job(self.beat, "interval", seconds=self.sweep_every, id="beat")
        if self.look_every < self.sweep_every:
            self._scheduler.add_job(self.look, "interval", seconds=self.look_every, id="look")
        self._scheduler.start()
        self.live.on_change(self.sweep_soon)
        log.info("reminder worker %s started", self.name)

    def stop(self) -> None:
        """Stop after the mail being sent, hand back the rest, and give up the heartbeat."""
        self.sender.stopping.set()
        self._scheduler.shutdown(wait=True)
        with self.live.engine.begin() as connection:
            heartbeats.forget(connection, self.name)

    def sweep(self) -> Outcome | None:
        """Beat, pick up catalog edits, plan, send what is due, and set the next wake-up."""
        with self._lock:
            if not self.beat():
                return None
            self.live.refresh()
            edition = self.live.edition
            now = self.clock()
            result = self.planner.sweep(self.live.engine, edition.catalog, now)
            changed = self.planner.changed
            result += self.digests.sweep(self.live.engine, edition, now, changed)
            if result.planned or result.withdrawn or result.notices:
                log.info(
                    "planned %d, withdrew %d, %d cancellation notices",
                    result.planned,
                    result.withdrawn,
                    result.notices,
                )
            changes = self.notices.sweep(self.live.engine, edition.catalog, now)
            if changes:
                log.info("planned %d change notices", changes)
            return self._send()

    def wake(self) -> Outcome | None:
        """Send what is due now (planning is the sweep's job)."""
        with self._lock:
            if not self.active:
                return None
            self.live.refresh()  # an edit since the sweep (a cancelled event) counts now
            return self._send()

    def look(self) -> None:
        """Wake now if another process queued mail that is due (a sign-up, say)."""
        if not self._lock.acquire(blocking=False):
            return  # a sweep or wake is running; it sets the next wake-up when done
        try:
            if not self.active or not self._scheduler.running:
                return
            with self.live.engine.connect() as connection:
                due = outbox.any_due(connection, self.clock())
            if due:
                self._scheduler.add_job(self.wake, "date", id="wake", replace_existing=True)
        finally:
            self._lock.release()

    def _send(self) -> Outcome:
        outcome = self.sender.send_due()
        if outcome.sent or outcome.failed or outcome.retried:
            log.info(
                "sent %d, retrying %d, failed %d", outcome.sent, outcome.retried, outcome.failed
            )
        self._schedule_wake()
        return outcome

    def _schedule_wake(self) -> None:
        with self.live.engine.connect() as connection:
            due = outbox.next_due(connection)
        if due is None or not self._scheduler.running:
            return
        # APScheduler runs on the real clock; the due instant is in the database's time.
        delay = max(due - self.clock(), timedelta(0))
        run_at = datetime.now(UTC) + delay
        self._scheduler.add_job(
            self.wake, "date", run_date=run_at, id="wake", replace_existing=True
        )

    def sweep_soon(self) -> None:
        """Plan and send now: after a catalog edit, a sign-up or a confirmation."""
        if self._scheduler.running:
            self._scheduler.add_job(self.sweep, "date", id="replan", replace_existing=True)

    def beat(self) -> bool:
        """Record that this worker lives; on SQLite, tell whether it is the one that sends."""
        now = self.clock()
        stale = now - timedelta(seconds=3 * self.sweep_every)
        with self.live.engine.begin() as connection:
            active = heartbeats.beat(connection, self.name, self.started_at, now, stale)
        if active != self.active:
            log.info("worker %s is %s", self.name, "sending" if active else "standing by")
        self.active = active
        return active


def worker_for(live: LiveCatalog, **options: Any) -> Worker:
    """Build the worker config.yaml describes: its transport and its signing key."""
    config = live.edition.catalog.config
    tokens = Tokens.for_site(config.root)
    return Worker(live, transport_for(config.mail), tokens, **options)
