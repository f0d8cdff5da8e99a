"""The sender: claim due reminders, check they still apply, mail them, record the outcome.

Before each mail, the subscriber and the event are read again: someone who left, an event
cancelled, moved or removed since planning gets nothing. Never twice rests on three things:

- the claim is a lease, renewed while a batch runs, so no other worker takes a row this one
  is still getting to;
- right before a mail's data goes, one transaction checks that this worker still holds the
  row and that the mail still applies, and extends the row's lease over the longest the data
  may take to hand over (``Connection.handover``): a worker that lost the row, or was stopped
  past its lease, drops the mail instead of sending it again;
- a mail the server accepted is recorded at once, before the next one starts.

A worker sends on as many connections at once as its transport allows (``connections``),
each in a thread of its own that claims, holds and records its own batches under its own
name (the worker's and ``#n``), so no connection ever trusts another's claim.

So a worker killed (or stopped longer than the handover allows) can at worst leave one mail
per connection that the server took but the outbox does not know of; it is sent again, with
the same Message-ID, once the extended lease ends. A temporary failure is retried with
exponential backoff and jitter; a permanent one is recorded as failed with the server's
reply.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

import sqlalchemy as sa

from .. import urls
from ..calendar.edition import Edition
from ..catalog import Catalog, Event
from ..clock import Clock, precise_now
from ..live import LiveCatalog
from ..tokens import Tokens
from . import digests, mail, notices, outbox
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
        self.stopping = threading.Event()  # set: end the batch after the mail being sent

    def send_due(self) -> Outcome:
        """Send every reminder due now; stop early if the mail server cannot be reached."""
        with self.live.engine.begin() as connection:
            outbox.triage(connection, self.clock())
        lanes = max(1, self.transport.connections)
        if lanes == 1:
            return self._send_lane(self.worker, self.batch)
        # Smaller batches, so that a few hundred mails already go out on every connection.
        size = max(1, self.batch // lanes)
        results: list[Outcome] = []
        threads = [
            threading.Thread(
                target=lambda name=f"{self.worker}#{n}": results.append(
                    self._send_lane(name, size)
                ),
                name=f"calfeed-mail-{n}",
            )
            for n in range(1, lanes + 1)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return Outcome(
            sent=sum(r.sent for r in results),
            retried=sum(r.retried for r in results),
            failed=sum(r.failed for r in results),
            dropped=sum(r.dropped for r in results),
            errors=[error for r in results for error in r.errors],
        )

    def _send_lane(self, name: str, size: int) -> Outcome:
        """Claim and send batches of ``size`` as ``name``, one connection at a time."""
        result = Outcome()
        while True:
            with self.live.engine.begin() as connection:
                claimed = outbox.claim(connection, name, self.clock(), size, self.lease)
            if not claimed:
                return result
            if not _Batch(self, name, claimed, result).send() or self.stopping.is_set():
                return result

    def render(self, row: Claimed, person: Subscriber, edition: Edition) -> _Mail:
        """Compose ``row``'s mail for ``person`` from ``edition`` of the catalog."""
        now = row.written_at  # the same mail each time it is sent
        config = edition.catalog.config
        links = mail.links_for(config, self.tokens, person.id, person.generation)
        if row.kind in outbox.ACCOUNT_KINDS:
            identity = account_message_id(person.id, row.kind, row.target_at, config)
            if row.kind == "confirm":
                signed = self.tokens.make("confirm", person.id, person.generation)
                link = urls.absolute(config, urls.confirm(signed))
            else:
                link = links.preferences
            language = config.site.language_for(person.language)
            names = [
                config.topics[t].in_language(language).name
                for t in sorted(person.topics)
                if t in config.topics
            ]
            message = compose_account(
                row.kind,
                person.email,
                names,
                config,
                link=link,
                links=links,
                message_id=identity,
                now=now,
                language=language,
            )
            return _Mail(message, identity)
        if row.kind in digests.KINDS:
            return _Mail(*digests.render(row, person, edition, links, now))
        if row.kind == notices.KIND:
            return _Mail(*notices.render(row, person, edition, self.live.engine, links, now))
        event = edition.catalog.by_id[row.event_id]
        reminder = Reminder(
            person.email,
            person.timezone,
            event,
            row.kind,
            row.offset_seconds,
            row.target_at,
            person.language,
        )
        identity = message_id(person.id, reminder, config)
        message = compose(
            reminder,
            config,
            # Built once per edition, in each language of the subscribers.
            ics=edition.in_language(config.site.language_for(person.language))
            .event_feed(event.id)
            .body,
            links=links,
            message_id=identity,
            now=now,
        )
        return _Mail(message, identity)


class _Batch:
    """One claimed batch, sent on one connection with one database connection."""

    def __init__(self, sender: Sender, name: str, claimed: list[Claimed], result: Outcome) -> None:
        self.sender, self.name, self.claimed, self.result = sender, name, claimed, result
        self.clock = sender.clock
        self.renew_at = self.clock() + sender.lease / 2
        self.accepted: outbox.Sent | None = None  # taken by the server, not recorded yet

    def send(self) -> bool:
        """Send the batch; False if the mail server was lost (the rest waits, uncharged)."""
        sender = self.sender
        with sender.live.engine.connect() as db:
            people = subscriber_store.get_many(db, {row.subscriber_id for row in self.claimed})
        envelope_from = parseaddr(sender.live.edition.catalog.config.mail.sender)[1]
        pending = deque(self.claimed)  # not yet sent or dropped, oldest first
        lost: DeliveryError | None = None  # the connection, gone mid-batch
        with sender.live.engine.connect() as db:
            try:
                try:
                    with sender.transport.connect() as connection:
                        while pending and lost is None and not sender.stopping.is_set():
                            self._keep(db, pending)
                            row = pending.popleft()
                            person = people.get(row.subscriber_id)
                            lost = self._deliver(db, row, person, envelope_from, connection)
                finally:
                    db.rollback()  # whatever stopped the batch, from a clean state
                    self._record_accepted(db)
            except DeliveryError as err:  # the server could not be reached
                lost = err
                self.retry(pending.popleft(), err, attempted=True)
        if lost is None:
            for row in pending:  # stopping: the next worker to look takes them at once
                self.finish(row, "planned")
            return True
        # The server went away: the rest of the batch waits for the next attempt.
        log.warning("mail server unavailable, %d mails wait: %s", len(pending), lost)
        self.result.errors.append(str(lost))
        for row in pending:
            self.retry(row, lost, attempted=False)
        return False

    def _keep(self, db: sa.Connection, pending: deque[Claimed]) -> None:
        """Renew the lease on the rows still to send once half of it has passed."""
        now = self.clock()
        if now < self.renew_at or not pending:
            return
        ids = [row.id for row in pending]
        outbox.renew(db, self.name, ids, now + self.sender.lease)
        # Mails not written yet read as of now, not as of the claim: a slow server delays
        # them. Those taken over keep their first holder's moment: one may have gone.
        fresh = [row.id for row in pending if not row.resumed]
        outbox.rewrite(db, self.name, fresh, now)
        db.commit()
        for index, row in enumerate(pending):
            if not row.resumed:
                pending[index] = replace(row, written_at=now)
        self.renew_at = now + self.sender.lease / 2

    def _deliver(
        self,
        db: sa.Connection,
        row: Claimed,
        person: Subscriber | None,
        envelope_from: str,
        connection: Connection,
    ) -> DeliveryError | None:
        """Send ``row``'s mail if it still applies, and settle the row.

        Returns the failure if the connection is gone: the rest of the batch must wait.
        """
        sender, result = self.sender, self.result
        edition = sender.live.edition
        # What the batch read of the person, and the catalog: the database is read again
        # right before the data goes (go_ahead), so a mail not due is not even written.
        reason = _not_due(row, person, edition.catalog, self.clock())
        if reason is not None:
            self._drop(row, reason)
            return None
        assert person is not None  # _why_not gives a reason otherwise
        try:
            built = sender.render(row, person, edition)
        except Exception as err:  # noqa: BLE001 - one mail that cannot be made must not stop the rest
            log.exception("reminder %d to %s cannot be composed", row.id, person.email)
            self.retry(row, f"cannot compose the mail: {err}", attempted=True)
            return None
        taken = False  # the row went to another worker (this one was too slow or stopped)

        def go_ahead() -> bool:
            nonlocal reason, taken
            # Read again right before the data goes: someone may have left meanwhile.
            # One transaction: the row is still this worker's, the mail still applies, and
            # nobody takes the row while its data goes.
            reason = self._why_not(db, row, person, sender.live.edition)
            until = self.clock() + connection.handover + sender.lease
            taken = not outbox.hold(db, row, self.name, until)
            db.commit()
            return reason is None and not taken

        try:
            handed = connection.send(envelope_from, person.email, built.message, go_ahead=go_ahead)
        except DeliveryError as err:
            if reason is not None:  # called off, then the server failed: the mail is not due
                self._drop(row, reason)
            elif not taken:
                self._failed(row, person.email, err)
            return err if err.lost else None
        if handed:
            self.accepted = outbox.Sent(row, self.clock(), built.message_id)
            self._record_accepted(db)  # at once: a crash now sends again at most this one
            result.sent += 1
        elif taken:
            log.warning("reminder %d was taken over by another worker: not sent", row.id)
        else:
            assert reason is not None
            self._drop(row, reason)
        return None

    def _why_not(
        self, db: sa.Connection, row: Claimed, person: Subscriber | None, edition: Edition
    ) -> str | None:
        """Say why ``row``'s mail must not go now (None: it must), reading the person again."""
        if person is not None:
            if row.kind in digests.KINDS:  # what they chose may have changed: read it all
                person = subscriber_store.get(db, person.id)
            else:
                person = replace(person, status=subscriber_store.status(db, person.id) or "")
        return _not_due(row, person, edition.catalog, self.clock())

    def _record_accepted(self, db: sa.Connection) -> None:
        """Record the mail the server accepted last, if that is not done yet."""
        sent = self.accepted
        if sent is None:
            return
        if not outbox.record_sent(db, sent, self.name):
            log.warning("reminder %d was taken over by another worker", sent.claimed.id)
        db.commit()
        self.accepted = None  # only once committed: a failed commit is tried again

    def _drop(self, row: Claimed, reason: str) -> None:
        skipped = reason == _PASSED or reason in digests.SKIPPED
        self.finish(row, "skipped" if skipped else "withdrawn", detail=reason)
        self.result.dropped += 1

    def _failed(self, row: Claimed, to: str, err: DeliveryError) -> None:
        """Settle a mail to ``to`` that the server did not take."""
        if err.temporary:
            self.retry(row, err, attempted=True)
            return
        log.error("mail %d to %s failed: %s", row.id, to, err)
        self.finish(row, "failed", attempts=row.attempts + 1, detail=str(err))
        self.result.failed += 1

    def retry(self, row: Claimed, err: object, attempted: bool) -> None:
        """Put ``row`` back for a later attempt, or fail it if that would come too late."""
        attempts = row.attempts + 1 if attempted else row.attempts
        later = self.clock() + backoff(max(attempts, 1))
        if later >= row.target_at:
            self.finish(row, "failed", attempts=attempts, detail=f"gave up: {err}")
            self.result.failed += 1
            return
        self.finish(row, "planned", attempts=attempts, next_attempt_at=later, detail=str(err))
        self.result.retried += 1

    def finish(self, row: Claimed, status: str, **values: object) -> None:
        """Record what became of ``row``, if this connection still holds it."""
        with self.sender.live.engine.begin() as connection:
            if not outbox.finish(connection, row, self.name, status, **values):
                log.warning("reminder %d was taken over by another worker", row.id)


_PASSED = "what it announced has passed"


@dataclass(frozen=True, slots=True)
class _Mail:
    """A mail composed for its recipient."""

    message: EmailMessage
    message_id: str


def _not_due(
    row: Claimed, person: Subscriber | None, catalog: Catalog, now: datetime
) -> str | None:
    """Return why a claimed mail must not be sent now, or None if it still applies."""
    if row.kind not in digests.KINDS:
        return _no_longer_due(row, person, catalog.by_id.get(row.event_id), now)
    if person is None or person.status != "confirmed":
        return "subscriber left"
    if row.target_at <= now:
        return _PASSED
    return digests.why_not(row, person, catalog, now)


def _no_longer_due(
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
    elif row.kind == notices.KIND:  # about the change it tells, whatever came since
        reason = notices.no_longer_wanted(person, event)
        if reason is not None:
            return reason
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
