"""Sending (``service/reminders/sender.py``): retries, failures and checks at send time.

The SMTP server is real (aiosmtpd on loopback) and told to greylist, refuse or hang up; time
is frozen and moved past each backoff, never slept through.
"""

from __future__ import annotations

import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import sqlalchemy as sa
from freezegun.api import FrozenDateTimeFactory
from ports import free_port

from service.reminders import outbox
from service.reminders import subscribers as subscriber_store
from service.reminders.transports import SmtpTransport

from .conftest import Calfeed, Received, SmtpGuard, check_mail, utc, waits

TITLE = "Circular Cities Webinar"
DUE = "2026-11-03 13:00:00"  # 7 days before the webinar
ANN = {"email": "ann@example.org", "topics": ["procurement"]}
BOB = {"email": "bob@example.org", "topics": ["procurement"]}
CAROL = {"email": "carol@example.org", "topics": ["procurement"]}
GREYLISTED = "451 4.7.1 Greylisted, please try again later"
UNKNOWN = "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown"


def ready(calfeed: Calfeed, clock: FrozenDateTimeFactory, people: list[dict[str, Any]]) -> None:
    """Set up the webinar and its subscribers, and stop when the 7-day reminder is due."""
    calfeed.configure(people)
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to(DUE)


def row_of(calfeed: Calfeed, email: str) -> dict[str, Any]:
    (row,) = [r for r in calfeed.outbox() if r["email"] == email]
    return row


def test_a_greylisted_reminder_is_retried_after_a_backoff_and_sent_once(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN])
    calfeed.smtp.sink.fail_next(1, GREYLISTED)

    assert calfeed.sweep() == []
    row = row_of(calfeed, "ann@example.org")
    assert (row["status"], row["attempts"], row["detail"]) == ("planned", 1, GREYLISTED)
    wait = row["next_attempt_at"] - utc(DUE)
    assert timedelta(seconds=24) <= wait <= timedelta(seconds=36)  # 30 s, +-20 %

    clock.move_to(utc(DUE) + timedelta(seconds=20))
    assert calfeed.sweep() == []  # not before the backoff ends
    clock.move_to(utc(DUE) + timedelta(seconds=37))
    sent = calfeed.sweep()
    assert [(m.to, m.subject) for m in sent] == [("ann@example.org", f"Starts in 7 days: {TITLE}")]
    check_mail(sent[0], "webinar", calfeed.tokens)
    row = row_of(calfeed, "ann@example.org")
    assert (row["status"], row["attempts"]) == ("sent", 2)

    clock.move_to(utc(DUE) + timedelta(minutes=10))
    assert calfeed.sweep() == []
    assert len(calfeed.smtp.sink.messages) == 1


def test_the_backoff_grows_with_each_failed_attempt(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN])
    calfeed.smtp.sink.fail_next(3, GREYLISTED)

    waits = []
    moment = utc(DUE)
    for _ in range(3):
        assert calfeed.sweep() == []
        row = row_of(calfeed, "ann@example.org")
        waits.append(row["next_attempt_at"] - moment)
        clock.move_to(row["next_attempt_at"] - timedelta(seconds=1))
        assert calfeed.sweep() == [], "nothing is tried before the backoff ends"
        moment = (row["next_attempt_at"] + timedelta(seconds=1)).replace(microsecond=0)
        clock.move_to(moment)
    sent = calfeed.sweep()

    assert [m.to for m in sent] == ["ann@example.org"]
    assert timedelta(seconds=24) <= waits[0] <= timedelta(seconds=36)
    assert timedelta(seconds=48) <= waits[1] <= timedelta(seconds=72)
    assert timedelta(seconds=96) <= waits[2] <= timedelta(seconds=144)
    assert row_of(calfeed, "ann@example.org")["attempts"] == 4


def test_a_reminder_that_cannot_be_delivered_before_the_event_is_recorded_as_failed(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN], reminders={"before_start": ["1h"]})
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to("2026-11-10 12:00:00")
    calfeed.smtp.sink.fail_next(100, GREYLISTED)

    assert calfeed.sweep() == []
    tries = 1
    while (row := row_of(calfeed, "ann@example.org"))["status"] == "planned" and tries < 50:
        clock.move_to(row["next_attempt_at"] + timedelta(seconds=1))
        assert calfeed.sweep() == []
        tries += 1

    assert row["status"] == "failed"
    assert row["detail"] == f"gave up: {GREYLISTED}"
    assert utc("2026-11-10 12:00") < datetime.now(UTC) < utc("2026-11-10 13:00")
    assert row["attempts"] == tries >= 5


def test_a_dropped_connection_is_retried_and_the_mail_sent_once(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN])
    calfeed.smtp.sink.drop_next(1)

    assert calfeed.sweep() == []
    row = row_of(calfeed, "ann@example.org")
    assert (row["status"], row["attempts"]) == ("planned", 1)
    assert row["detail"].startswith("connection:"), row["detail"]

    clock.move_to(utc(DUE) + timedelta(seconds=37))
    sent = calfeed.sweep()
    assert [m.to for m in sent] == ["ann@example.org"]
    check_mail(sent[0], "webinar", calfeed.tokens)
    clock.move_to(utc(DUE) + timedelta(minutes=10))
    assert calfeed.sweep() == []
    assert len(calfeed.smtp.sink.messages) == 1


def test_after_a_dropped_connection_the_rest_of_the_batch_waits_and_each_is_sent_once(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB, CAROL])
    calfeed.smtp.sink.drop_next(1)

    assert calfeed.sweep() == []
    rows = calfeed.outbox()
    assert {r["status"] for r in rows} == {"planned"}
    assert sorted(r["attempts"] for r in rows) == [0, 0, 1]  # only the first was attempted

    clock.move_to(utc(DUE) + timedelta(seconds=37))
    sent = calfeed.sweep()
    assert sorted(m.to for m in sent) == ["ann@example.org", "bob@example.org", "carol@example.org"]
    clock.move_to(utc(DUE) + timedelta(minutes=10))
    assert calfeed.sweep() == []
    assert len(calfeed.smtp.sink.messages) == 3


def test_a_server_closing_with_421_costs_an_attempt_only_to_the_mail_it_refused(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB, CAROL])
    calfeed.smtp.sink.fail_next(1, "421 4.3.2 Service shutting down, closing channel")

    assert calfeed.sweep() == []
    rows = calfeed.outbox()
    assert {r["status"] for r in rows} == {"planned"}
    assert sorted(r["attempts"] for r in rows) == [0, 0, 1]
    (refused,) = [r for r in rows if r["attempts"] == 1]
    assert refused["detail"] == "connection: 421 4.3.2 Service shutting down, closing channel"

    clock.move_to(utc(DUE) + timedelta(seconds=37))
    sent = calfeed.sweep()
    assert sorted(m.to for m in sent) == ["ann@example.org", "bob@example.org", "carol@example.org"]
    assert len(calfeed.smtp.sink.messages) == 3


def test_a_server_closing_on_a_mail_no_longer_due_leaves_the_rest_waiting_uncharged(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB, CAROL])
    web = sa.create_engine(calfeed.engine.url)
    order: list[str] = []
    sink = calfeed.smtp.sink

    def the_second_leaves_while_their_envelope_goes(address: str) -> None:
        if not order:
            order.extend(r["email"] for r in sorted(calfeed.outbox(), key=lambda r: r["id"]))
        if address == order[1]:
            with web.begin() as connection:
                assert subscriber_store.unsubscribe(
                    connection, calfeed.subscriber_id(address), utc(DUE)
                )
            # Their mail is called off with RSET, and the server closes the connection then.
            sink.rset_replies.append("421 4.3.2 Service shutting down, closing channel")

    sink.on_rcpt = the_second_leaves_while_their_envelope_goes
    try:
        sent = calfeed.sweep()
    finally:
        web.dispose()

    assert [m.to for m in sent] == order[:1]  # the batch goes in claim order
    first, second, third = (row_of(calfeed, email) for email in order)
    assert first["status"] == "sent"
    assert (second["status"], second["detail"]) == ("withdrawn", "subscriber left")
    assert (third["status"], third["attempts"]) == ("planned", 0)
    assert third["detail"] == "connection: 421 4.3.2 Service shutting down, closing channel"

    sink.on_rcpt = None
    clock.move_to(utc(DUE) + timedelta(seconds=37))
    assert [m.to for m in calfeed.sweep()] == [order[2]]


def test_a_database_failure_mid_batch_keeps_the_record_of_the_mail_already_accepted(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB])
    other = sa.create_engine(calfeed.engine.url)

    def subscribers_vanish(_: str) -> None:
        # The next read of a subscriber fails: a real error from the database.
        with other.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE subscribers RENAME TO subscribers_away")

    seen = _in_the_middle_of_the_batch(calfeed, subscribers_vanish)
    try:
        with pytest.raises(sa.exc.OperationalError, match="subscribers"):
            calfeed.sweep()
        with other.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE subscribers_away RENAME TO subscribers")
    finally:
        other.dispose()

    (first,) = seen
    row = row_of(calfeed, first)
    assert (row["status"], row["message_id"]) == ("sent", calfeed.smtp.sink.messages[0].message_id)
    (other_row,) = [r for r in calfeed.outbox() if r["email"] != first]
    assert other_row["status"] == "sending"  # taken again once its lease ends
    clock.move_to(utc(DUE) + timedelta(minutes=6))
    assert [m.to for m in calfeed.sweep()] == [other_row["email"]]
    assert len(calfeed.smtp.sink.messages) == 2


def test_a_mail_server_that_cannot_be_reached_delays_the_batch(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, smtp_guard: SmtpGuard
) -> None:
    ready(calfeed, clock, [ANN, BOB])
    closed = free_port()
    smtp_guard.allowed.add(("127.0.0.1", closed))
    down = calfeed.make_worker("worker-a", lease=timedelta(minutes=5))
    down.sender.transport = SmtpTransport("127.0.0.1", closed, waits=waits(5))

    outcome = down.sweep()
    assert outcome is not None and (outcome.sent, outcome.retried) == (0, 2)
    assert outcome.errors and outcome.errors[0].startswith("connection:")
    assert {r["status"] for r in calfeed.outbox()} == {"planned"}

    clock.move_to(utc(DUE) + timedelta(seconds=37))  # the server is back
    assert sorted(m.to for m in calfeed.sweep()) == ["ann@example.org", "bob@example.org"]


def test_a_permanent_refusal_is_recorded_as_failed_with_the_servers_reply_and_not_retried(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB])
    calfeed.smtp.sink.refused["ann@example.org"] = UNKNOWN

    sent = calfeed.sweep()

    assert [m.to for m in sent] == ["bob@example.org"]  # the batch goes on after a 5xx
    row = row_of(calfeed, "ann@example.org")
    assert (row["status"], row["attempts"], row["detail"]) == ("failed", 1, UNKNOWN)
    for minutes in (1, 30, 24 * 60):
        clock.move_to(utc(DUE) + timedelta(minutes=minutes))
        assert calfeed.sweep() == []
    assert calfeed.smtp.sink.to("ann@example.org") == []
    assert row_of(calfeed, "ann@example.org")["status"] == "failed"


def _in_the_middle_of_the_batch(calfeed: Calfeed, action: Any) -> list[str]:
    """Run ``action(first_recipient)`` when the server receives the batch's first mail."""
    seen: list[str] = []

    def on_message(received: Received) -> None:
        if not seen:
            action(received.to)
        seen.append(received.to)

    calfeed.smtp.sink.on_message = on_message
    return seen


def test_someone_who_unsubscribes_while_their_reminder_is_claimed_gets_nothing(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB])
    ids = {email: calfeed.subscriber_id(email) for email in ("ann@example.org", "bob@example.org")}
    web = sa.create_engine(calfeed.engine.url)  # the web app's own connection
    left: list[str] = []

    def the_other_clicks_unsubscribe(first: str) -> None:
        (other,) = [email for email in ids if email != first]
        with web.begin() as connection:
            assert subscriber_store.unsubscribe(connection, ids[other], utc(DUE))
        left.append(other)

    _in_the_middle_of_the_batch(calfeed, the_other_clicks_unsubscribe)
    try:
        sent = calfeed.sweep()  # both reminders are claimed in one batch
    finally:
        web.dispose()

    assert len(left) == 1, "the batch should hold both reminders"
    assert [m.to for m in sent] == [e for e in ids if e not in left]
    row = row_of(calfeed, left[0])
    assert (row["status"], row["detail"]) == ("withdrawn", "subscriber left")
    clock.move_to("2026-11-10 12:00:00")
    calfeed.sweep()
    assert calfeed.smtp.sink.to(left[0]) == []


def test_an_event_cancelled_while_its_reminders_are_claimed_sends_nothing_more(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB])
    live = calfeed.worker.live

    def cancel(_: str) -> None:
        calfeed.event("webinar", title=TITLE, status="cancelled")
        assert live.refresh()  # what the file watcher of `calfeed run` does within a second

    _in_the_middle_of_the_batch(calfeed, cancel)
    (first,) = calfeed.sweep()
    calfeed.smtp.sink.on_message = None

    other = "bob@example.org" if first.to == "ann@example.org" else "ann@example.org"
    row = row_of(calfeed, other)
    assert (row["status"], row["detail"]) == ("withdrawn", "event cancelled")
    clock.move_to(utc(DUE) + timedelta(minutes=1))
    notices = calfeed.sweep()
    assert [(m.to, m.subject) for m in notices] == [(first.to, f"Cancelled: {TITLE}")]
    assert calfeed.smtp.sink.to(other) == []


def test_an_event_moved_while_its_reminders_are_claimed_is_not_announced_at_the_old_time(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB])
    live = calfeed.worker.live

    def move(_: str) -> None:
        calfeed.event("webinar", title=TITLE, start="2026-11-12T14:00", end="2026-11-12T16:00")
        assert live.refresh()

    _in_the_middle_of_the_batch(calfeed, move)
    (first,) = calfeed.sweep()
    calfeed.smtp.sink.on_message = None

    other = "bob@example.org" if first.to == "ann@example.org" else "ann@example.org"
    old = [r for r in calfeed.outbox() if r["email"] == other]
    assert [(r["status"], r["detail"]) for r in old] == [("withdrawn", "event moved")]
    clock.move_to("2026-11-05 13:00:00")  # 7 days before the new start
    sent = calfeed.sweep()
    assert sorted(m.to for m in sent) == ["ann@example.org", "bob@example.org"]
    assert all("Thu, 12 Nov 2026, 13:00–15:00 UTC" in m.text() for m in sent)


def test_a_mail_sent_again_after_its_worker_died_reads_as_the_first_did(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    """The copy a second worker sends of a mail in flight at a crash is the same mail."""
    ready(calfeed, clock, [ANN])
    hour_before = utc("2026-11-10 12:00:00")  # the 1-hour reminder of the 13:00 UTC start
    clock.move_to(hour_before - timedelta(hours=23))
    assert [m.subject for m in calfeed.sweep()] == [f"Starts in 1 day: {TITLE}"]
    claimed_at = hour_before + timedelta(seconds=20)
    clock.move_to(claimed_at)
    first = calfeed.make_worker("first")
    with calfeed.engine.begin() as connection:
        (claimed,) = outbox.claim(connection, "first", claimed_at, 10)
        people = subscriber_store.get_many(connection, {claimed.subscriber_id})
    written = first.sender.render(claimed, people[claimed.subscriber_id], first.live.edition)
    # "first" handed it to the server and died before it could record that.
    first_copy = written.message.as_bytes(policy=email.policy.SMTP)

    clock.move_to(hour_before + outbox.LEASE + timedelta(minutes=2))  # the lease ran out
    (again,) = calfeed.sweep()

    assert again.message_id == written.message_id
    assert again.subject == f"Starts in 1 hour: {TITLE}" == str(written.message["Subject"])
    assert header(again.data, b"Date") == header(first_copy, b"Date")
    # The same text; only its links are signed afresh (each says when it was signed).
    body = written.message.get_body(("plain",))
    assert body is not None
    assert unsigned(again.text()) == unsigned(str(body.get_content()).replace("\r\n", "\n"))


def unsigned(text: str) -> str:
    """Return ``text`` with each signed token (payload.time.signature) put as ``<token>``."""
    return re.sub(r"/[\w-]+\.[\w-]+\.[\w-]+", "/<token>", text)


def header(data: bytes, name: bytes) -> bytes:
    """Return the raw value of header ``name`` in the mail ``data``, as on the wire."""
    head = data.partition(b"\r\n\r\n")[0]
    (line,) = [line for line in head.split(b"\r\n") if line.startswith(name + b":")]
    return line


def test_a_mail_held_up_by_a_slow_server_is_dated_when_it_goes_not_when_claimed(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    ready(calfeed, clock, [ANN, BOB, CAROL])

    # Each mail takes the server three minutes: the batch's lease (5 min) is renewed meanwhile.
    def slowly(received: Received) -> None:
        clock.tick(timedelta(minutes=3))

    calfeed.smtp.sink.on_message = slowly

    sent = calfeed.sweep()

    assert len(sent) == 3
    dated = [
        parsedate_to_datetime(header(m.data, b"Date").split(b":", 1)[1].decode()) for m in sent
    ]
    assert dated == [m.at.replace(microsecond=0) for m in sent]
    assert dated[-1] - utc(DUE) == timedelta(minutes=6)
