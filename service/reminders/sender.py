"""The sender: claim due reminders, check they still apply, mail them, record the outcome.

Each outcome is committed right after its mail is handed over, so a crash can at worst send
again the few mails in flight (with the same Message-ID). Before sending, the subscriber and
the event are read again: someone who left, an event cancelled, moved or removed since
planning gets nothing. A temporary failure is retried with exponential backoff and jitter; a
permanent one is recorded as failed with the server's reply.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.policy import SMTP
from email.utils import parseaddr

import sqlalchemy as sa

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
        self._times: dict[tuple[int, str, str], mail.Times] = {}  # per edition, event, zone

    def send_due(self) -> Outcome:
        """Send every reminder due now; stop early if the mail server cannot be reached."""
        result = Outcome()
        engine = self.live.engine
        with engine.begin() as connection:
            outbox.triage(connection, self.clock())
        while True:
            with engine.begin() as connection:
                claimed = outbox.claim(
                    connection, self.worker, self.clock(), self.batch, self.lease
                )
            if not claimed:
                return result
            if not self._send_batch(claimed, result):
                return result

    def _send_batch(self, claimed: list[Claimed], result: Outcome) -> bool:
        """Send one claimed batch on one connection; False if the connection failed."""
        with self.live.engine.connect() as db:
            people = subscriber_store.get_many(db, {row.subscriber_id for row in claimed})
        self._envelope_from = parseaddr(self.live.edition.catalog.config.mail.sender)[1]
        self._times.clear()
        prepared: dict[tuple[object, ...], bytes] = {}  # one composed mail per reminder
        pending = list(claimed)
        try:
            with self.transport.connect() as connection, self._holding_connection():
                while pending:
                    row = pending[0]
                    self._deliver(row, people.get(row.subscriber_id), connection, result, prepared)
                    pending.pop(0)
        except DeliveryError as err:
            # The server went away: the rest of the batch waits for the next attempt.
            log.warning("mail server unavailable, %d mails wait: %s", len(pending), err)
            result.errors.append(str(err))
            for row in pending:
                self._retry(row, err, result, attempted=row is pending[0])
            return False
        return True

    def _deliver(
        self,
        row: Claimed,
        person: Subscriber | None,
        connection: Connection,
        result: Outcome,
        prepared: dict[tuple[object, ...], bytes],
    ) -> None:
        now = self.clock()
        if person is not None and self._db is not None:
            # Read again right before sending: someone may have left since the batch began.
            current = subscriber_store.status(self._db, person.id)
            self._db.commit()  # end the read, so the next one sees what changed meanwhile
            person = replace(person, status=current or "")
        built = self._compose(row, person, now, prepared)
        if isinstance(built, str):
            status = "skipped" if built == _PASSED else "withdrawn"
            self._finish(row, status, detail=built)
            result.dropped += 1
            return
        data, identity = built
        assert person is not None
        try:
            connection.send_raw(self._envelope_from, person.email, data)
        except DeliveryError as err:
            if err.temporary and str(err).startswith("connection:"):
                raise  # the connection is gone: the caller retries the whole rest
            if err.temporary:
                self._retry(row, err, result, attempted=True)
            else:
                log.error("mail %d to %s failed: %s", row.id, person.email, err)
                self._finish(row, "failed", attempts=row.attempts + 1, detail=str(err))
                result.failed += 1
            return
        # Recorded before the next mail goes: a crash sends again at most the one in flight.
        self._record_sent(outbox.Sent(row, now, identity))
        result.sent += 1

    @contextmanager
    def _holding_connection(self) -> Iterator[None]:
        """Hold one database connection for the checks and records of a batch."""
        with self.live.engine.connect() as db:
            self._db = db
            try:
                yield
            finally:
                self._db = None

    def _compose(
        self,
        row: Claimed,
        person: Subscriber | None,
        now: datetime,
        prepared: dict[tuple[object, ...], bytes],
    ) -> tuple[bytes, str] | str:
        """Return the mail's bytes and its Message-ID, or why it must not be sent any more."""
        if person is None:
            return "subscriber left"
        edition = self.live.edition
        config = edition.catalog.config
        token = self.tokens.make("unsubscribe", person.id)
        unsubscribe_url = f"{config.site.base_url}/unsubscribe/{token}"
        if row.kind in outbox.ACCOUNT_KINDS:
            reason = _account_mail_applies(row, person, now)
            if reason is not None:
                return reason
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
                unsubscribe_url=unsubscribe_url,
                message_id=identity,
                now=now,
            )
            return message.as_bytes(policy=SMTP), identity
        event = edition.catalog.by_id.get(row.event_id)
        reason = _no_longer_applies(row, person, event, now)
        if reason is not None:
            return reason
        assert event is not None  # _no_longer_applies returned a reason otherwise
        reminder = Reminder(
            mail.TO, person.timezone, event, row.kind, row.offset_seconds, row.target_at
        )
        # Everyone gets the same mail but for the stand-ins: compose it once per reminder.
        ahead = mail.remaining(row.target_at - now)
        key = (id(edition), row.event_id, row.kind, row.offset_seconds, row.target_at, ahead)
        data = prepared.get(key)
        if data is None:
            message = compose(
                reminder,
                config,
                ics=edition.event_feed(event.id).body,
                unsubscribe_url=mail.UNSUBSCRIBE,
                message_id=mail.MESSAGE_ID,
                now=now,
                times=mail.stand_in_times(event),
            )
            data = prepared[key] = message.as_bytes(policy=SMTP)
        zone_key = (id(edition), row.event_id, person.timezone.key)
        times = self._times.get(zone_key)
        if times is None:
            times = self._times[zone_key] = mail.times_in(event, person.timezone)
        identity = message_id(person.id, reminder, config)  # the same for any address
        data = mail.personalise(data, person.email, identity, unsubscribe_url, times)
        return data, identity

    def _retry(self, row: Claimed, err: DeliveryError, result: Outcome, attempted: bool) -> None:
        attempts = row.attempts + 1 if attempted else row.attempts
        later = self.clock() + backoff(max(attempts, 1))
        if later >= row.target_at:
            self._finish(row, "failed", attempts=attempts, detail=f"gave up: {err}")
            result.failed += 1
            return
        self._finish(row, "planned", attempts=attempts, next_attempt_at=later, detail=str(err))
        result.retried += 1

    def _record_sent(self, sent: outbox.Sent) -> None:
        assert self._db is not None  # set for the whole batch
        held = outbox.record_sent(self._db, sent, self.worker)
        self._db.commit()
        if not held:
            log.warning("reminder %d was taken over by another worker", sent.claimed.id)

    def _finish(self, row: Claimed, status: str, **values: object) -> None:
        with self.live.engine.begin() as connection:
            if not outbox.finish(connection, row, self.worker, status, **values):
                log.warning("reminder %d was taken over by another worker", row.id)


_PASSED = "what it announced has passed"


def _no_longer_applies(
    row: Claimed, person: Subscriber | None, event: Event | None, now: datetime
) -> str | None:
    """Return why a claimed reminder must not be sent now, or None if it still applies."""
    if person is None or person.status != "confirmed":
        return "subscriber left"
    if event is None:
        return "event removed"
    if row.kind == "cancelled":
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


def _account_mail_applies(row: Claimed, person: Subscriber, now: datetime) -> str | None:
    """Return why a confirmation or preferences mail must not be sent now, or None."""
    wanted = "pending" if row.kind == "confirm" else "confirmed"
    if person.status != wanted:
        return "no longer needed"
    if row.target_at <= now:
        return _PASSED
    return None


def backoff(attempts: int) -> timedelta:
    """Return the wait before attempt ``attempts + 1``: doubling from 30 s, at most 1 h, ±20 %."""
    base: timedelta = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_LONGEST)
    return base * random.uniform(0.8, 1.2)
