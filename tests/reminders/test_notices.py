"""Change notices (``service/reminders/notices.py``), as the SMTP server receives them.

The real worker sweeps under a frozen clock: an edit of an event's date, time, zone or place
makes one mail to each follower once the event has been still for the quiet period, with
the old and new times in their zone and the event's, and the event's calendar attached:
the entry they already have (same UID), at a higher SEQUENCE, as icalendar and Mozilla's
ical.js read it. Other edits, and edits reverted in time, make none.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from freezegun.api import FrozenDateTimeFactory

from service.reminders import heartbeats, notices, report
from service.reminders import subscribers as subscriber_store
from service.reminders.worker import Worker
from service.store.tables import change_notices, event_states, outbox

from .conftest import Calfeed, Received, check_mail

sys.path.append(str(Path(__file__).resolve().parents[1] / "calendar"))  # shadows nothing
from parsers import readers  # noqa: E402  (tests/calendar's readers, not a package here)

NORA: dict[str, Any] = {
    "email": "nora@example.org",
    "topics": ["procurement"],
    "timezone": "Europe/Brussels",
}
# New York leaves summer time on 1 November, a week after Brussels.
ANN: dict[str, Any] = {
    "email": "ann@example.org",
    "topics": ["procurement"],
    "timezone": "America/New_York",
}
PRIVATE = "https://meet.example.org/j/members-room?pwd=only-for-subscribers"
QUIET = notices.QUIET
UID = "webinar@events.example.org"
BRUSSELS = ZoneInfo("Europe/Brussels")


def settle(calfeed: Calfeed, clock: FrozenDateTimeFactory) -> list[Received]:
    """Let the quiet period pass after the last edit (a second short, then to its end)."""
    clock.tick(QUIET - timedelta(seconds=1))
    early = calfeed.sweep()
    assert early == [], [m.subject for m in early]
    clock.tick(timedelta(seconds=1))
    return calfeed.sweep()


def gone(worker: Worker) -> None:
    """End ``worker`` as a stopped process ends: its heartbeat and its memory go."""
    with worker.live.engine.begin() as connection:
        heartbeats.forget(connection, worker.name)


def by_address(mails: list[Received]) -> dict[str, Received]:
    found = {mail.to: mail for mail in mails}
    assert len(found) == len(mails), "one address got two mails"
    return found


def moved_rows(calfeed: Calfeed) -> list[tuple[str, str, int, str]]:
    return [
        (email, event, number, status)
        for email, event, kind, number, status in calfeed.statuses()
        if kind == notices.KIND
    ]


def test_a_moved_start_makes_one_notice_in_each_zone_across_a_dst_change(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA, ANN])
    # Brussels is on winter time from 25 October; New York still on summer time until 1 November.
    calfeed.event("webinar", start="2026-10-29T14:00", end="2026-10-29T16:00")
    assert calfeed.sweep() == []
    calfeed.event("webinar", start="2026-11-05T14:00", end="2026-11-05T16:00")
    assert calfeed.sweep() == []  # the edit waits for the quiet period

    mails = by_address(settle(calfeed, clock))

    assert sorted(mails) == ["ann@example.org", "nora@example.org"]
    for mail in mails.values():
        check_mail(mail, "webinar", calfeed.tokens)
        assert mail.subject == "Moved: Webinar webinar"
        assert "What changed: the date and time.\n" in mail.text()
    nora, ann = mails["nora@example.org"], mails["ann@example.org"]
    assert "Was: Thu, 29 Oct 2026, 14:00–16:00 CET (Europe/Brussels)\n" in nora.text()
    assert "Now: Thu, 5 Nov 2026, 14:00–16:00 CET (Europe/Brussels)\n" in nora.text()
    assert (
        "Was: Thu, 29 Oct 2026, 09:00–11:00 EDT (America/New_York); "
        "Thu, 29 Oct 2026, 14:00–16:00 CET (Europe/Brussels)\n"
    ) in ann.text()
    assert (
        "Now: Thu, 5 Nov 2026, 08:00–10:00 EST (America/New_York); "
        "Thu, 5 Nov 2026, 14:00–16:00 CET (Europe/Brussels)\n"
    ) in ann.text()
    assert "08:00–10:00 EST (America/New_York)" in ann.html()
    assert "Where: Online\n" in nora.text()
    for mail in mails.values():
        assert "preferences/" in mail.text() and "unsubscribe/" in mail.text()
    # Said once: later sweeps, and the notice's Message-ID is its own.
    clock.tick(timedelta(minutes=10))
    assert calfeed.sweep() == []
    assert nora.message_id != ann.message_id
    assert sorted(moved_rows(calfeed)) == [
        ("ann@example.org", "webinar", 1, "sent"),
        ("nora@example.org", "webinar", 1, "sent"),
    ]


def test_the_notice_leaves_within_five_minutes_of_the_last_edit(calfeed: Calfeed) -> None:
    assert QUIET + timedelta(seconds=calfeed.worker.sweep_every) < timedelta(minutes=5)


def test_a_new_zone_is_a_change_told_in_both_zones(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", timezone="Europe/London")  # the same wall time, an hour later
    calfeed.sweep()

    (mail,) = settle(calfeed, clock)

    assert mail.subject == "Moved: Webinar webinar"
    text = mail.text()
    assert "What changed: the date and time, the time zone.\n" in text
    assert "Was: Tue, 10 Nov 2026, 14:00–16:00 CET (Europe/Brussels)\n" in text
    assert (
        "Now: Tue, 10 Nov 2026, 15:00–17:00 CET (Europe/Brussels); "
        "Tue, 10 Nov 2026, 14:00–16:00 GMT (Europe/London)\n"
    ) in text


def test_a_new_place_is_a_change(calfeed: Calfeed, clock: FrozenDateTimeFactory) -> None:
    calfeed.configure([NORA])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", location="Room 4, Brussels")
    calfeed.sweep()

    (mail,) = settle(calfeed, clock)

    check_mail(mail, "webinar", calfeed.tokens)
    assert mail.subject == "New place: Webinar webinar"
    text = mail.text()
    assert "What changed: the place.\n" in text
    assert "When: Tue, 10 Nov 2026, 14:00–16:00 CET (Europe/Brussels)\n" in text
    assert "Where it was: Online\nWhere it is now: Room 4, Brussels\n" in text
    assert "Was:" not in text


def test_a_description_or_title_edit_tells_nobody(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA])
    calfeed.event("webinar", description="Frist draft")
    calfeed.sweep()
    before = calfeed.worker.live.edition.event_feed("webinar").body
    calfeed.event("webinar", description="First draft", title="The webinar, renamed")
    calfeed.sweep()

    clock.tick(QUIET * 3)
    assert calfeed.sweep() == []

    after = calfeed.worker.live.edition.event_feed("webinar").body
    assert readers.read_icalendar(after)[UID].sequence == (
        (readers.read_icalendar(before)[UID].sequence or 0) + 1
    )  # calendars update by their feeds; no mail for it
    assert moved_rows(calfeed) == []


def test_an_edit_reverted_within_the_quiet_period_tells_nobody(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", start="2026-11-10T15:00", end="2026-11-10T17:00")
    calfeed.sweep()
    clock.tick(QUIET / 2)
    calfeed.event("webinar")  # back to what Nora was told
    calfeed.sweep()

    clock.tick(QUIET * 3)
    assert calfeed.sweep() == []
    assert moved_rows(calfeed) == []


def test_an_edit_reverted_after_its_notice_is_a_change_again(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", start="2026-11-10T15:00", end="2026-11-10T17:00")
    calfeed.sweep()
    (first,) = settle(calfeed, clock)
    calfeed.event("webinar")
    calfeed.sweep()

    (second,) = settle(calfeed, clock)

    assert "Was: Tue, 10 Nov 2026, 14:00–16:00 CET" in first.text()
    assert "Now: Tue, 10 Nov 2026, 15:00–17:00 CET" in first.text()
    assert "Was: Tue, 10 Nov 2026, 15:00–17:00 CET" in second.text()
    assert "Now: Tue, 10 Nov 2026, 14:00–16:00 CET" in second.text()
    calfeed.event("webinar", start="2026-11-10T15:00", end="2026-11-10T17:00")  # once more
    calfeed.sweep()
    (third,) = settle(calfeed, clock)
    # The same change told again (fresh links below): a mail of its own.
    assert third.text().partition("\n--\n")[0] == first.text().partition("\n--\n")[0]
    assert len({first.message_id, second.message_id, third.message_id}) == 3


def test_two_edits_within_the_quiet_period_make_one_notice_of_the_latest(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA, ANN])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", start="2026-11-11T14:00", end="2026-11-11T16:00")
    calfeed.sweep()
    clock.tick(QUIET - timedelta(seconds=30))
    calfeed.event("webinar", start="2026-11-12T10:00", end="2026-11-12T12:00")
    assert calfeed.sweep() == []  # the quiet period starts again

    mails = by_address(settle(calfeed, clock))

    assert sorted(mails) == ["ann@example.org", "nora@example.org"]
    nora = mails["nora@example.org"].text()
    assert "Was: Tue, 10 Nov 2026, 14:00–16:00 CET (Europe/Brussels)\n" in nora
    assert "Now: Thu, 12 Nov 2026, 10:00–12:00 CET (Europe/Brussels)\n" in nora
    assert "11 Nov" not in nora
    clock.tick(QUIET * 3)
    assert calfeed.sweep() == []


def test_the_attached_calendar_updates_the_entry_the_subscriber_has(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, tmp_path: Path
) -> None:
    calfeed.configure([NORA])
    calfeed.event("webinar", online={"join_url": PRIVATE})
    calfeed.sweep()
    # What Nora's calendar holds: her personal feed, with the private join link.
    had = calfeed.worker.live.edition.personal_feed(("procurement",)).body
    calfeed.event(
        "webinar", online={"join_url": PRIVATE}, start="2026-11-10T15:30", end="2026-11-10T17:00"
    )
    calfeed.sweep()

    (mail,) = settle(calfeed, clock)

    check_mail(mail, "webinar", calfeed.tokens)
    attachments = mail.message.iter_attachments()
    (part,) = [p for p in attachments if p.get_content_type() == "text/calendar"]
    attached: bytes = part.get_content().encode()
    assert b"METHOD:PUBLISH\r\n" in attached
    assert f"Join online: {PRIVATE}\n" in mail.text()
    (tmp_path / "had.ics").write_bytes(had)
    (tmp_path / "attached.ics").write_bytes(attached)
    for reader in ("icalendar", "ical.js"):
        before, after = read(reader, [tmp_path / "had.ics", tmp_path / "attached.ics"])
        assert UID in before and UID in after, reader
        old, new = before[UID], after[UID]
        assert old.sequence is not None and new.sequence is not None, reader
        assert new.sequence > old.sequence, reader
        assert new.start == datetime(2026, 11, 10, 15, 30, tzinfo=BRUSSELS), reader
        assert old.start == datetime(2026, 11, 10, 14, 0, tzinfo=BRUSSELS), reader
        assert PRIVATE in "".join(new.conferences), reader  # her entry keeps its join link


def read(reader: str, paths: list[Path]) -> list[readers.Reading]:
    """Read the files with ``reader`` (icalendar here, or a program of tests/calendar)."""
    if reader == "icalendar":
        return [readers.read_icalendar(path.read_bytes()) for path in paths]
    try:
        return readers.read_external(reader, paths)
    except readers.ToolMissing as err:
        if readers_required():
            pytest.fail(f"{err}; CALFEED_REQUIRE_PARSERS=1 requires it")
        pytest.skip(f"{err}; set CALFEED_REQUIRE_PARSERS=1 to fail instead")


def readers_required() -> bool:
    return os.environ.get("CALFEED_REQUIRE_PARSERS") == "1"


def test_nothing_after_unsubscribing_even_when_the_notice_was_planned(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA, ANN])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", start="2026-11-10T15:00", end="2026-11-10T17:00")
    calfeed.sweep()
    clock.tick(QUIET)
    worker, now = calfeed.worker, datetime.now(UTC)
    assert worker.notices.sweep(calfeed.engine, worker.live.edition.catalog, now) == 2
    with calfeed.engine.begin() as connection:  # planned, not sent: Nora leaves
        subscriber_store.unsubscribe(connection, calfeed.subscriber_id(NORA["email"]), now)

    (mail,) = calfeed.sweep()

    assert mail.to == "ann@example.org"
    assert sorted(moved_rows(calfeed)) == [
        ("ann@example.org", "webinar", 1, "sent"),
        ("nora@example.org", "webinar", 1, "withdrawn"),
    ]


def test_no_notice_for_who_left_the_topic_or_turned_notices_off(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([])
    calfeed.event("webinar", topics=["procurement", "circular-economy"])
    now = datetime.now(UTC)
    people = {}
    with calfeed.engine.begin() as connection:
        for name in ("stays", "leaves", "opts-out", "later", "opts-out-later"):
            person, _ = subscriber_store.request(
                connection,
                f"{name}@example.org",
                ["procurement"],
                ZoneInfo("Europe/Brussels"),
                now,
            )
            subscriber_store.confirm(connection, person.id, now)
            people[name] = person.id
    calfeed.sweep()  # their confirmation mails
    calfeed.event(
        "webinar",
        topics=["procurement", "circular-economy"],
        start="2026-11-10T15:00",
        end="2026-11-10T17:00",
    )
    calfeed.sweep()
    zone = BRUSSELS
    with calfeed.engine.begin() as connection:
        subscriber_store.update(connection, people["leaves"], ["supply-chains"], zone)
        subscriber_store.update(
            connection, people["opts-out"], ["procurement"], zone, change_notices=False
        )
    clock.tick(QUIET)
    worker = calfeed.worker
    worker.notices.sweep(calfeed.engine, worker.live.edition.catalog, datetime.now(UTC))
    with calfeed.engine.begin() as connection:  # planned, then two change their minds
        subscriber_store.update(connection, people["later"], ["supply-chains"], zone)
        subscriber_store.update(
            connection, people["opts-out-later"], ["procurement"], zone, change_notices=False
        )

    mails = calfeed.sweep()

    assert [m.to for m in mails] == ["stays@example.org"]
    rows = dict(((email, status) for email, _, _, status in moved_rows(calfeed)))
    assert rows == {
        "stays@example.org": "sent",
        "later@example.org": "withdrawn",
        "opts-out-later@example.org": "withdrawn",
    }
    with calfeed.engine.connect() as connection:
        details = connection.execute(
            sa.select(outbox.c.detail)
            .where(outbox.c.kind == notices.KIND, outbox.c.status == "withdrawn")
            .order_by(outbox.c.subscriber_id)
        ).scalars()
        assert list(details) == [
            "subscriber left the event's topics",
            "subscriber turned change notices off",
        ]


def test_nothing_twice_when_the_worker_restarts_between_plan_and_send(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA, ANN])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", start="2026-11-10T15:00", end="2026-11-10T17:00")
    calfeed.sweep()
    clock.tick(QUIET)
    first = calfeed.worker
    assert first.notices.sweep(calfeed.engine, first.live.edition.catalog, datetime.now(UTC)) == 2
    gone(first)  # before sending: what it planned is in the database

    again = calfeed.make_worker("worker-b")
    again.sweep()
    clock.tick(timedelta(minutes=10))
    again.sweep()
    third = calfeed.make_worker("worker-c")  # and once more, with nothing in memory
    clock.tick(timedelta(minutes=10))
    third.sweep()

    assert sorted(m.to for m in calfeed.smtp.sink.messages if m.subject.startswith("Moved")) == [
        "ann@example.org",
        "nora@example.org",
    ]


def test_an_edit_seen_before_a_restart_is_told_after_it(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", location="Room 4, Brussels")
    calfeed.sweep()
    gone(calfeed.worker)  # it saw the edit, and told nobody yet
    clock.tick(QUIET)

    later = calfeed.make_worker("worker-b")
    later.sweep()

    (mail,) = [m for m in calfeed.smtp.sink.messages if m.subject.startswith("New place")]
    assert "Where it was: Online\n" in mail.text()


def test_calfeed_reminders_lists_change_notices(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA])
    calfeed.event("webinar")
    calfeed.sweep()
    calfeed.event("webinar", location="Room 4, Brussels")
    calfeed.sweep()
    clock.tick(QUIET)
    worker, now = calfeed.worker, datetime.now(UTC)
    worker.notices.sweep(calfeed.engine, worker.live.edition.catalog, now)
    catalog = worker.live.edition.catalog

    upcoming = [str(line) for line in report.upcoming(calfeed.engine, catalog, now)]
    assert "2026-10-01 12:02 UTC  nora@example.org  webinar  change notice" in upcoming

    calfeed.sweep()
    sent = [str(line) for line in report.history(calfeed.engine, ["sent"], 10)]
    assert "2026-10-01 12:02 UTC  nora@example.org  webinar  change notice" in sent
    with calfeed.engine.connect() as connection:
        told: Any = connection.execute(sa.select(change_notices)).one()
    assert (told.event_id, told.number) == ("webinar", 1)


def test_two_workers_plan_and_send_each_notice_once(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, database: str | None
) -> None:
    extra = {"database": database} if database else {}
    calfeed.configure([NORA, ANN], **extra)
    calfeed.event("webinar")
    first, second = calfeed.worker, calfeed.make_worker("worker-b")
    first.sweep()
    second.sweep()
    calfeed.event("webinar", start="2026-11-10T15:00", end="2026-11-10T17:00")
    first.sweep()
    second.sweep()
    clock.tick(QUIET)
    now = datetime.now(UTC)
    with first.live.engine.connect() as connection:  # what the second read, before...
        (pending,) = connection.execute(sa.select(event_states)).all()
    assert pending.changed_at is not None

    # ...the first planned the notice: the second's plan of the same row plans nothing.
    assert first.notices.sweep(first.live.engine, first.live.edition.catalog, now) == 2
    second.live.refresh()  # on SQLite it stands by, and has not read the edit yet
    with second.live.engine.begin() as connection:
        catalog = second.live.edition.catalog
        assert second.notices._plan(connection, catalog, pending, now) == 0
    assert second.notices.sweep(second.live.engine, catalog, now) == 0
    first.sweep()
    second.sweep()

    mails = [m for m in calfeed.smtp.sink.messages if m.subject.startswith("Moved")]
    assert sorted(m.to for m in mails) == ["ann@example.org", "nora@example.org"]
    with calfeed.engine.connect() as connection:
        count = sa.select(sa.func.count()).select_from(change_notices)
        assert connection.execute(count).scalar() == 1


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mail"


@pytest.mark.parametrize("part", ["txt", "html"])
def test_golden_notice_parts(calfeed: Calfeed, clock: FrozenDateTimeFactory, part: str) -> None:
    # What Ann's mail client shows of a notice of a new time and place, byte for byte.
    calfeed.configure([ANN])
    webinar = {"title": "Circular Cities Declaration Webinar", "subtitle": "Sharing examples"}
    calfeed.event("webinar", **webinar, online={"join_url": PRIVATE})
    calfeed.sweep()
    calfeed.event(
        "webinar",
        **webinar,
        online={"join_url": PRIVATE},
        start="2026-11-03T10:00",
        end="2026-11-03T11:30",
        location="Room 4, Brussels",
    )
    calfeed.sweep()
    (received,) = settle(calfeed, clock)
    got = received.text() if part == "txt" else received.html()

    path = GOLDEN / f"notice.{part}"
    if os.environ.get("CALFEED_UPDATE_GOLDEN") == "1":
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with CALFEED_UPDATE_GOLDEN=1 to write it"
    assert got == path.read_text(encoding="utf-8"), (
        f"the {part} part differs from {path.name}; if intended, refresh with "
        "CALFEED_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reminders -k golden"
    )


def test_an_event_over_or_cancelled_gets_no_change_notice(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA], reminders={"before_start": ["1d"]})
    calfeed.event("past", start="2026-09-20T14:00", end="2026-09-20T16:00")
    calfeed.event("webinar")
    calfeed.sweep()
    clock.move_to("2026-11-09 13:00:00")  # a day before the webinar
    (reminder,) = calfeed.sweep()
    calfeed.event("past", start="2026-09-21T14:00", end="2026-09-21T16:00", location="Room 4")
    # Cancelled and moved at once: the cancellation notice tells it, as before.
    calfeed.event("webinar", status="cancelled", start="2026-11-11T14:00", end="2026-11-11T16:00")

    mails = calfeed.sweep() + settle(calfeed, clock)
    clock.tick(QUIET * 3)
    mails += calfeed.sweep()

    assert reminder.subject == "Starts in 1 day: Webinar webinar"
    assert [m.subject for m in mails] == ["Cancelled: Webinar webinar"]
    assert moved_rows(calfeed) == []
