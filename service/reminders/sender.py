"""The sender: claim due reminders, check they still apply, mail them, record the outcome.

Before each mail, the subscriber and the event are read again: someone who left, an event
cancelled, moved or removed since planning gets nothing. A mail the server accepted is
recorded before the next mail's data goes, so a crash can at worst send again the one mail in
flight (with the same Message-ID). That record, the re-reading and the composing each happen
while the server reads one command of the next mail: the sender keeps pace with a bare SMTP
loop. A temporary failure
is retried with exponential backoff and jitter; a permanent one is recorded as failed with
the server's reply.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.policy import SMTP, SMTPUTF8
from email.utils import parseaddr

import sqlalchemy as sa

from ..calendar.edition import Edition
from ..catalog import Event
from ..live import LiveCatalog
from ..revisions import Clock, precise_now
from ..tokens import Tokens
from . import mail, outbox
from . import subscribers as subscriber_store
from .mail import Reminder, account_message_id, compose, compose_account, message_id
from .outbox import Claimed
from .subscribers import Subscriber
from .transports import Connection, DeliveryError, Transport

log = logging.getLogger(__name__)
RETRY_FIRST = timedelta(seconds=30)
RETRY_LONGEST = timedelta(hours=1)


@dataclass
class Outcome:
    """What one run of the sender did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0  # withdrawn or skipped at send time
    errors: list[str] = field(default_factory=list)


class Sender:
    """Send what is due, as one named worker."""

    def __init__(
        self,
        live: LiveCatalog,
        transport: Transport,
        tokens: Tokens,
        worker: str,
        *,
        clock: Clock = precise_now,
        batch: int = 100,
        lease: timedelta = outbox.LEASE,
    ) -> None:
        self.live, self.transport, self.tokens = live, transport, tokens
        self.worker, self.clock, self.batch, self.lease = worker, clock, batch, lease
        self._envelope_from = ""
        self._db: sa.Connection | None = None
        self._accepted: outbox.Sent | None = None  # taken by the server, not recorded yet
        self._times: dict[tuple[Edition, str, str], mail.Times] = {}  # by edition, event, zone
        self._composed: dict[tuple[object, ...], bytes] = {}  # one composed mail per reminder
        self.stopping = False  # set to stop after the mail in hand

    def send_due(self) -> Outcome:
        """Send every reminder due now; stop early if the mail server cannot be reached."""
        result = Outcome()
        engine = self.live.engine
        with engine.begin() as connection:
            outbox.triage(connection, self.clock())
        while not self.stopping:
            with engine.begin() as connection:
                claimed = outbox.claim(
                    connection, self.worker, self.clock(), self.batch, self.lease
                )
            if not claimed:
                return result
            if not self._send_batch(claimed, result):
                return result
        return result

    def _send_batch(self, claimed: list[Claimed], result: Outcome) -> bool:
        """Send one claimed batch on one connection; False if the connection failed."""
        with self.live.engine.connect() as db:
            people = subscriber_store.get_many(db, {row.subscriber_id for row in claimed})
        self._envelope_from = parseaddr(self.live.edition.catalog.config.mail.sender)[1]
        self._times.clear()
        self._composed.clear()
        pending = deque(claimed)  # not yet sent or dropped, oldest first
        lost: DeliveryError | None = None  # the connection, gone mid-batch
        with self._holding_connection():
            try:
                try:
                    with self.transport.connect() as connection:
                        while pending and lost is None and not self.stopping:
                            row = pending.popleft()
                            person = people.get(row.subscriber_id)
                            lost = self._deliver(row, person, connection, result)
                finally:
                    assert self._db is not None
                    self._db.rollback()  # whatever stopped the batch, from a clean state
                    self._record_accepted()
            except DeliveryError as err:  # the server could not be reached
                lost = err
                self._retry(pending.popleft(), err, result, attempted=True)
        if lost is None:
            for row in pending:  # left by a stopping worker: the next one takes them at once
                self._finish(row, "planned")
            return True
        # The server went away: the rest of the batch waits for the next attempt.
        log.warning("mail server unavailable, %d mails wait: %s", len(pending), lost)
        result.errors.append(str(lost))
        for row in pending:
            self._retry(row, lost, result, attempted=False)
        return False

    def _deliver(
        self, row: Claimed, person: Subscriber | None, connection: Connection, result: Outcome
    ) -> DeliveryError | None:
        """Send ``row``'s mail if it is still due, and settle the row.

        Returns the failure if the connection is gone: the rest of the batch must wait.
        """
        edition = self.live.edition
        reason: str | None = None  # why the mail is no longer due
        built: _Mail | None = None

        def still_due() -> bool:
            nonlocal reason, edition
            reason, edition = self._settle(row, person)
            return reason is None

        def compose() -> bytes:
            nonlocal built
            assert person is not None  # _still_due returned a reason otherwise
            built = self._render(row, person, edition)
            return built.data

        try:
            if person is None:
                self._record_accepted()
                still_due()  # a subscriber no longer stored gets nothing
                handed = False
            else:
                handed = connection.send(
                    self._envelope_from,
                    person.email,
                    meanwhile=self._record_accepted,
                    still_due=still_due,
                    compose=compose,
                )
        except DeliveryError as err:
            self._record_accepted()  # in case the server failed before ``meanwhile`` ran
            if reason is not None:
                self._drop(row, reason, result)
            else:
                assert person is not None  # only a mail to someone can fail
                self._failed(row, person.email, err, result)
            return err if err.lost else None
        if handed:
            assert built is not None
            # Recorded before the next mail's data goes: a crash sends again at most this one.
            self._accepted = outbox.Sent(row, self.clock(), built.message_id)
            result.sent += 1
        else:
            assert reason is not None
            self._drop(row, reason, result)
        return None

    def _settle(self, row: Claimed, person: Subscriber | None) -> tuple[str | None, Edition]:
        """Say why ``row`` is no longer due (None: it is), from the subscriber read again.

        Returns the edition of the catalog that was checked, to compose the mail from.
        """
        assert self._db is not None  # held for the whole batch
        if person is not None:
            # Read again right before sending: someone may have left since the batch began.
            current = subscriber_store.status(self._db, person.id)
            person = replace(person, status=current or "")
            self._db.commit()  # end the read: the next one sees what changed meanwhile
        edition = self.live.edition
        event = edition.catalog.by_id.get(row.event_id)
        return _still_due(row, person, event, self.clock()), edition

    def _record_accepted(self) -> None:
        """Record the mail the server accepted last, if that is not done yet."""
        sent = self._accepted
        if sent is None:
            return
        assert self._db is not None  # held for the whole batch
        if not outbox.record_sent(self._db, sent, self.worker):
            log.warning("reminder %d was taken over by another worker", sent.claimed.id)
        self._db.commit()
        self._accepted = None  # only once committed: a failed commit is tried again

    def _drop(self, row: Claimed, reason: str, result: Outcome) -> None:
        self._finish(row, "skipped" if reason == _PASSED else "withdrawn", detail=reason)
        result.dropped += 1

    def _failed(self, row: Claimed, to: str, err: DeliveryError, result: Outcome) -> None:
        """Settle a mail to ``to`` that the server did not take."""
        if err.temporary:
            self._retry(row, err, result, attempted=True)
            return
        log.error("mail %d to %s failed: %s", row.id, to, err)
        self._finish(row, "failed", attempts=row.attempts + 1, detail=str(err))
        result.failed += 1

    @contextmanager
    def _holding_connection(self) -> Iterator[None]:
        """Hold one database connection for the checks and records of a batch."""
        with self.live.engine.connect() as db:
            self._db = db
            try:
                yield
            finally:
                self._db = None

    def _render(self, row: Claimed, person: Subscriber, edition: Edition) -> _Mail:
        """Compose ``row``'s mail for ``person`` from ``edition`` of the catalog."""
        now = self.clock()
        config = edition.catalog.config
        links = mail.links_for(config, self.tokens, person.id)
        if row.kind in outbox.ACCOUNT_KINDS:
            identity = account_message_id(person.id, row.kind, row.target_at, config)
            purpose = "confirm" if row.kind == "confirm" else "manage"
            path = "confirm" if row.kind == "confirm" else "preferences"
            link = f"{config.site.base_url}/{path}/{self.tokens.make(purpose, person.id)}"
            names = [config.topics[t].name for t in sorted(person.topics) if t in config.topics]
            message = compose_account(
                row.kind,
                person.email,
                names,
                config,
                link=link,
                links=links,
                message_id=identity,
                now=now,
            )
            # An address beyond ASCII goes out with SMTPUTF8: the header may say it as it is.
            policy = SMTP if person.email.isascii() else SMTPUTF8
            return _Mail(message.as_bytes(policy=policy), identity)
        event = edition.catalog.by_id[row.event_id]
        reminder = Reminder(
            mail.TO, person.timezone, event, row.kind, row.offset_seconds, row.target_at
        )
        # Everyone gets the same mail but for the stand-ins: compose it once per reminder.
        ahead = mail.remaining(row.target_at - now)
        key = (edition, row.event_id, row.kind, row.offset_seconds, row.target_at, ahead)
        data = self._composed.get(key)
        if data is None:
            message = compose(
                reminder,
                config,
                ics=edition.event_feed(event.id).body,
                links=mail.STAND_IN_LINKS,
                message_id=mail.MESSAGE_ID,
                now=now,
                times=mail.stand_in_times(event),
            )
            data = self._composed[key] = message.as_bytes(policy=SMTP)
        zone_key = (edition, row.event_id, person.timezone.key)
        times = self._times.get(zone_key)
        if times is None:
            times = self._times[zone_key] = mail.times_in(event, person.timezone)
        identity = message_id(person.id, reminder, config)  # the same for any address
        data = mail.personalise(data, person.email, identity, links, times)
        return _Mail(data, identity)

    def _retry(self, row: Claimed, err: DeliveryError, result: Outcome, attempted: bool) -> None:
        attempts = row.attempts + 1 if attempted else row.attempts
        later = self.clock() + backoff(max(attempts, 1))
        if later >= row.target_at:
            self._finish(row, "failed", attempts=attempts, detail=f"gave up: {err}")
            result.failed += 1
            return
        self._finish(row, "planned", attempts=attempts, next_attempt_at=later, detail=str(err))
        result.retried += 1

    def _finish(self, row: Claimed, status: str, **values: object) -> None:
        with self.live.engine.begin() as connection:
            if not outbox.finish(connection, row, self.worker, status, **values):
                log.warning("reminder %d was taken over by another worker", row.id)


_PASSED = "what it announced has passed"


@dataclass(frozen=True, slots=True)
class _Mail:
    """A mail made out to its recipient."""

    data: bytes
    message_id: str


def _still_due(
    row: Claimed, person: Subscriber | None, event: Event | None, now: datetime
) -> str | None:
    """Return why a claimed mail must not be sent now, or None if it still applies."""
    if row.kind in outbox.ACCOUNT_KINDS:
        wanted = "pending" if row.kind == "confirm" else "confirmed"
        if person is None or person.status != wanted:
            return "no longer needed"
    elif person is None or person.status != "confirmed":
        return "subscriber left"
    elif event is None:
        return "event removed"
    elif row.kind == "cancelled":
        if event.status != "cancelled":
            return "event no longer cancelled"
    elif event.status == "cancelled":
        return "event cancelled"
    else:
        target: datetime | None = event.start
        if row.kind == "deadline":
            target = event.registration.deadline if event.registration else None
        if target is None or target.astimezone(UTC) != row.target_at:
            return "event moved"
    if row.target_at <= now:
        return _PASSED
    return None


def backoff(attempts: int) -> timedelta:
    """Return the wait before attempt ``attempts + 1``: doubling from 30 s, at most 1 h, ±20 %."""
    base: timedelta = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_LONGEST)
    return base * random.uniform(0.8, 1.2)
