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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from ..catalog import Event
from ..live import LiveCatalog
from ..revisions import Clock, utc_now
from ..tokens import Tokens
from . import outbox
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
        clock: Clock = utc_now,
        batch: int = 100,
        lease: timedelta = outbox.LEASE,
    ) -> None:
        self.live, self.transport, self.tokens = live, transport, tokens
        self.worker, self.clock, self.batch, self.lease = worker, clock, batch, lease

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
        pending = list(claimed)
        try:
            with self.transport.connect() as connection:
                while pending:
                    self._deliver(pending[0], connection, result)
                    pending.pop(0)
        except DeliveryError as err:
            # The server went away: the rest of the batch waits for the next attempt.
            log.warning("mail server unavailable, %d reminders wait: %s", len(pending), err)
            result.errors.append(str(err))
            for row in pending:
                self._retry(row, err, result, attempted=row is pending[0])
            return False
        return True

    def _deliver(self, row: Claimed, connection: Connection, result: Outcome) -> None:
        now = self.clock()
        with self.live.engine.connect() as db:
            person = subscriber_store.get(db, row.subscriber_id)
        built = self._compose(row, person, now)
        if isinstance(built, str):
            status = "skipped" if built == _PASSED else "withdrawn"
            self._finish(row, status, detail=built)
            result.dropped += 1
            return
        message, identity = built
        try:
            connection.send(message)
        except DeliveryError as err:
            if err.temporary and str(err).startswith("connection:"):
                raise  # the connection is gone: the caller retries the whole rest
            if err.temporary:
                self._retry(row, err, result, attempted=True)
            else:
                log.error("mail %d to %s failed: %s", row.id, message["To"], err)
                self._finish(row, "failed", attempts=row.attempts + 1, detail=str(err))
                result.failed += 1
            return
        self._finish(row, "sent", attempts=row.attempts + 1, sent_at=now, message_id=identity)
        result.sent += 1

    def _compose(
        self, row: Claimed, person: Subscriber | None, now: datetime
    ) -> tuple[EmailMessage, str] | str:
        """Return the mail and its Message-ID, or why it must not be sent any more."""
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
            return message, identity
        event = edition.catalog.by_id.get(row.event_id)
        reason = _no_longer_applies(row, person, event, now)
        if reason is not None:
            return reason
        assert event is not None  # _no_longer_applies returned a reason otherwise
        reminder = Reminder(
            person.email, person.timezone, event, row.kind, row.offset_seconds, row.target_at
        )
        identity = message_id(person.id, reminder, config)
        message = compose(
            reminder,
            config,
            ics=edition.event_feed(event.id).body,
            unsubscribe_url=unsubscribe_url,
            message_id=identity,
            now=now,
        )
        return message, identity

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
