"""Digests and new-event mails (``service/reminders/digests.py``), through the real worker.

The worker sweeps under frozen time and mails the test SMTP server; the tests read the
bytes it received. Europe/Stockholm leaves summer time on 25 October 2026, between the
digests of 19 and 26 October; America/New_York skips 02:00 on 14 March 2027 and has 01:00
twice on 1 November 2026.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from freezegun.api import FrozenDateTimeFactory

from service.catalog.models import Choices, Digest
from service.cli import main
from service.reminders import heartbeats
from service.reminders import subscribers as subscriber_store
from service.reminders.digests import occurrence
from service.store.tables import outbox

from .conftest import BASE_URL, Calfeed, Received, utc

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")
EVA = {"email": "eva@example.org", "topics": ["procurement"], "timezone": "Europe/Stockholm"}
# Digests only, on Mondays at 08:00 in each reader's zone.
DIGESTS = {
    "before_start": ["1d"],
    "digest": {"weekday": "monday", "hour": 8},
    "defaults": {"per_event": False, "digest": True},
}


def digest_events(calfeed: Calfeed) -> None:
    """A summit in the week of 19 October, a forum whose registration closes that week."""
    calfeed.event(
        "summit",
        title="Supply chain summit",
        timezone="America/New_York",
        start="2026-10-22T10:00",
        end="2026-10-22T12:00",
    )
    calfeed.event(
        "forum",
        title="Procurement forum",
        start="2026-10-29T14:00",
        end="2026-10-29T16:00",
        registration={"url": "https://example.org/register", "deadline": "2026-10-24T23:59"},
    )
    calfeed.event(
        "circular",
        title="Circular webinar",
        topics=["circular-economy"],
        start="2026-10-21T14:00",
        end="2026-10-21T15:00",
    )


def configure(
    calfeed: Calfeed, people: list[dict[str, Any]], database: str | None = None, **reminders: Any
) -> None:
    calfeed.configure(
        people,
        reminders={**DIGESTS, **reminders},
        **({"database": database} if database else {}),
        topics={
            "procurement": {"name": "Public procurement"},
            "circular-economy": {"name": "Circular economy"},
        },
    )


def restart(calfeed: Calfeed) -> None:
    """Stop the worker as ``calfeed worker`` does, and start a new one with nothing in memory."""
    old = calfeed.worker
    with calfeed.engine.begin() as connection:
        heartbeats.forget(connection, old.name)
    calfeed._worker = calfeed.make_worker(f"{old.name}-again")


def check_digest(received: Received, subscriber_id: int, week: str) -> None:
    """Assert what a digest carries: text and HTML, the list headers, its Message-ID."""
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert message["Message-ID"] == f"<digest-{subscriber_id}-{week}@events.example.org>"
    assert message["List-Unsubscribe"].startswith(f"<{BASE_URL}/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Test events <reminders.events.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert f"{BASE_URL}/preferences/" in received.text()
    assert f'href="{BASE_URL}/preferences/' in received.html()


def test_digests_come_at_the_chosen_hour_in_the_readers_zone_before_and_after_dst_ends(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, database: str | None
) -> None:
    configure(calfeed, [EVA], database)
    digest_events(calfeed)
    calfeed.sweep()
    eva = calfeed.subscriber_id("eva@example.org")

    # Monday 19 October, 08:00 in Stockholm is 06:00 UTC (summer time).
    clock.move_to("2026-10-19 05:59:59")
    assert calfeed.sweep() == []
    clock.move_to("2026-10-19 06:00:00")
    [first] = calfeed.sweep()

    assert first.to == "eva@example.org"
    assert first.subject == "Coming up until Mon 26 Oct: 2 events"
    check_digest(first, eva, "2026-W43")
    text = first.text()
    assert "until the next digest, Mon, 26 Oct 2026, 08:00 CET" in text
    # Deadlines first, then starts; each in Eva's zone with the event's beside it.
    deadline = text.index("Registration closes\n- Procurement forum: Sat, 24 Oct 2026, 23:59 CEST")
    start = text.index(
        "Starting\n- Supply chain summit: Thu, 22 Oct 2026, 16:00–18:00 CEST (Europe/Stockholm); "
        "Thu, 22 Oct 2026, 10:00–12:00 EDT (America/New_York)"
    )
    assert deadline < start
    assert "(Europe/Stockholm and Europe/Brussels)" in text
    assert f"Details: {BASE_URL}/events/forum" in text
    assert f"Details: {BASE_URL}/events/summit" in text
    assert "Register: https://example.org/register" in text
    assert "Circular webinar" not in text  # not in Eva's topics
    html = first.html()
    assert html.index("Registration closes") < html.index("Starting")
    assert f'<a href="{BASE_URL}/events/summit">Supply chain summit</a>' in html

    # A worker started afresh that same morning sends nothing more.
    clock.move_to("2026-10-19 06:20:00")
    assert calfeed.sweep() == []
    restart(calfeed)
    assert calfeed.sweep() == []
    clock.move_to("2026-10-19 09:00:00")
    assert calfeed.sweep() == []

    # Monday 26 October, 08:00 in Stockholm is 07:00 UTC (winter time), not 06:00.
    clock.move_to("2026-10-26 06:00:00")
    assert calfeed.sweep() == []
    clock.move_to("2026-10-26 07:00:00")
    [second] = calfeed.sweep()
    restart(calfeed)
    assert calfeed.sweep() == []

    check_digest(second, eva, "2026-W44")
    text = second.text()
    assert "until the next digest, Mon, 2 Nov 2026, 08:00 CET" in text
    assert "Registration closes" not in text
    assert "- Procurement forum: Thu, 29 Oct 2026, 14:00–16:00 CET" in text
    assert "Supply chain summit" not in text  # it is over
    sent = [(r["event_id"], r["status"]) for r in calfeed.outbox() if r["kind"] == "digest"]
    assert sent[:2] == [("2026-W43", "sent"), ("2026-W44", "sent")]


def test_a_week_with_nothing_coming_sends_no_digest_and_says_why(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    configure(calfeed, [EVA])
    digest_events(calfeed)
    calfeed.sweep()
    clock.move_to("2026-11-02 07:00:00")  # Monday 08:00 CET: nothing left in her topics

    assert calfeed.sweep() == []

    [row] = [r for r in calfeed.outbox() if r["kind"] == "digest"]
    assert (row["event_id"], row["status"], row["detail"]) == (
        "2026-W45",
        "skipped",
        "nothing coming in their topics",
    )


def test_no_digest_after_unsubscribing_even_when_it_was_queued(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    configure(calfeed, [EVA])
    digest_events(calfeed)
    clock.move_to("2026-10-18 12:00:00")
    calfeed.sweep()
    [row] = [r for r in calfeed.outbox() if r["kind"] == "digest"]
    assert (row["event_id"], row["status"]) == ("2026-W43", "planned")

    with calfeed.engine.begin() as connection:
        eva = calfeed.subscriber_id("eva@example.org")
        assert subscriber_store.unsubscribe(connection, eva, datetime.now(UTC))
    for moment in ("2026-10-19 06:00:00", "2026-10-26 07:00:00"):
        clock.move_to(moment)
        assert calfeed.sweep() == []

    assert [(r["event_id"], r["status"]) for r in calfeed.outbox()] == [("2026-W43", "withdrawn")]


def sign_up(calfeed: Calfeed, email: str, zone: str, choices: Choices) -> int:
    """Sign ``email`` up for procurement with ``choices`` and confirm, as the pages do."""
    now = datetime.now(UTC)
    with calfeed.engine.begin() as connection:
        person, kind = subscriber_store.request(
            connection, email, ["procurement"], ZoneInfo(zone), now, choices=choices
        )
        assert kind == "confirm"
        assert subscriber_store.confirm(connection, person.id, now) is not None
    return person.id


def test_a_digest_follows_a_changed_day_and_hour_and_a_week_gets_one_digest(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    configure(calfeed, [], defaults={"per_event": True})
    digest_events(calfeed)
    calfeed.sweep()
    clock.move_to("2026-10-18 12:00:00")
    sam = sign_up(calfeed, "sam@example.org", "America/New_York", Choices(False, Digest(0, 8)))
    calfeed.sweep()
    assert [(r["event_id"], r["due_at"]) for r in calfeed.outbox() if r["kind"] == "digest"] == [
        ("2026-W43", utc("2026-10-19 12:00"))  # 08:00 in New York
    ]

    # Sam moves his digest to Wednesday 20:00: the Monday one is withdrawn, none is sent.
    change_digest(calfeed, sam, Digest(2, 20))
    calfeed.sweep()
    clock.move_to("2026-10-19 12:00:00")
    assert calfeed.sweep() == []
    # Wednesday 21 October, 20:00 in New York is 00:00 UTC on Thursday.
    clock.move_to("2026-10-21 23:59:00")
    assert calfeed.sweep() == []
    clock.move_to("2026-10-22 00:00:00")
    [digest] = calfeed.sweep()
    check_digest(digest, sam, "2026-W43")
    text = digest.text()
    assert "until the next digest, Wed, 28 Oct 2026, 20:00 EDT" in text
    assert "- Supply chain summit: Thu, 22 Oct 2026, 10:00–12:00 EDT (America/New_York)" in text
    assert "- Procurement forum: Sat, 24 Oct 2026, 17:59 EDT (America/New_York); " in text

    # Then to Friday 20:00, in the same week: that week has had its digest.
    clock.move_to("2026-10-22 12:00:00")
    change_digest(calfeed, sam, Digest(4, 20))
    calfeed.sweep()
    clock.move_to("2026-10-24 00:00:00")
    assert calfeed.sweep() == []
    clock.move_to("2026-10-31 00:00:00")  # the next Friday, 20:00 in New York
    assert calfeed.sweep() == []  # nothing left in his topics
    statuses = [
        (r["event_id"], r["status"], r["detail"]) for r in calfeed.outbox() if r["kind"] == "digest"
    ]
    assert statuses == [
        ("2026-W43", "withdrawn", "digest no longer chosen at this time"),
        ("2026-W43", "sent", None),
        ("2026-W44", "skipped", "nothing coming in their topics"),
    ]


def change_digest(calfeed: Calfeed, subscriber_id: int, digest: Digest) -> None:
    """Choose another day and hour for the digest, as the preferences page stores it."""
    with calfeed.engine.begin() as connection:
        subscriber_store.update(
            connection,
            subscriber_id,
            ["procurement"],
            NEW_YORK,
            choices=(Choices(False, digest), datetime.now(UTC)),
        )


def test_per_event_reminders_off_plans_none_and_a_cancellation_still_reaches_them(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    configure(calfeed, [], defaults={"per_event": True})
    calfeed.event("webinar", title="Webinar", start="2026-10-20T14:00", end="2026-10-20T15:00")
    calfeed.event("forum", title="Forum", start="2026-10-22T14:00", end="2026-10-22T15:00")
    calfeed.sweep()
    ann = sign_up(calfeed, "ann@example.org", "UTC", Choices(per_event=True))
    dan = sign_up(calfeed, "dan@example.org", "UTC", Choices(False, Digest(0, 8)))

    # Ann had the forum's reminder; then she turns per-event reminders off.
    clock.move_to("2026-10-19 12:00:00")
    assert [m.to for m in calfeed.sweep() if "Starts" in m.subject] == ["ann@example.org"]
    with calfeed.engine.begin() as connection:
        subscriber_store.update(
            connection,
            ann,
            ["procurement"],
            ZoneInfo("UTC"),
            choices=(Choices(False, Digest(0, 8)), datetime.now(UTC)),
        )
    calfeed.sweep()
    clock.move_to("2026-10-21 12:00:00")
    assert [m for m in calfeed.sweep() if "Starts" in m.subject] == []

    planned = [(r["email"], r["event_id"]) for r in calfeed.outbox() if r["kind"] == "start"]
    assert ("dan@example.org", "webinar") not in planned
    assert all(email == "ann@example.org" for email, _ in planned)
    withdrawn = [
        r["detail"] for r in calfeed.outbox() if r["kind"] == "start" and r["status"] == "withdrawn"
    ]
    assert withdrawn == ["per-event reminders turned off"]

    # The webinar she had a reminder for is cancelled: she hears of it, Dan does not.
    calfeed.event(
        "webinar",
        title="Webinar",
        start="2026-10-20T14:00",
        end="2026-10-20T15:00",
        status="cancelled",
    )
    clock.move_to("2026-10-19 13:30:00")
    calfeed.worker.live.refresh()
    notices = [m for m in calfeed.sweep() if m.subject.startswith("Cancelled")]
    assert [(m.to, m.subject) for m in notices] == [("ann@example.org", "Cancelled: Webinar")]
    assert dan not in {r["subscriber_id"] for r in calfeed.outbox() if r["kind"] != "digest"}


def test_a_new_event_mail_goes_once_per_new_event_to_those_who_chose_it(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, database: str | None
) -> None:
    configure(calfeed, [], database, defaults={"per_event": True})
    calfeed.event("old", title="Old webinar", start="2026-11-10T14:00", end="2026-11-10T15:00")
    calfeed.sweep()  # the old webinar is published before anyone signs up
    clock.tick(60)
    nora = sign_up(calfeed, "nora@example.org", "Asia/Tokyo", Choices(new_events=True))
    sign_up(calfeed, "bob@example.org", "Asia/Tokyo", Choices())
    clock.tick(60)
    assert calfeed.sweep() == []

    calfeed.event(
        "fresh",
        title="Fresh forum",
        start="2026-11-12T14:00",
        end="2026-11-12T16:00",
        registration={"url": "https://example.org/register", "deadline": "2026-11-11T12:00"},
    )
    calfeed.event("past", title="Past forum", start="2026-09-12T14:00", end="2026-09-12T16:00")
    calfeed.event(
        "elsewhere",
        title="Circular forum",
        topics=["circular-economy"],
        start="2026-11-12T14:00",
        end="2026-11-12T16:00",
    )
    clock.tick(60)
    calfeed.worker.live.refresh()
    [mail] = calfeed.sweep()

    assert (mail.to, mail.subject) == ("nora@example.org", "New: Fresh forum")
    message = mail.message
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "fresh.ics"
    assert attachment.get_param("method") == "PUBLISH"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    assert [str(e["UID"]) for e in calendar.walk("VEVENT")] == ["fresh@events.example.org"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].startswith("<new.")
    text = mail.text()
    assert "When: Thu, 12 Nov 2026, 22:00–00:00 JST" not in text  # spans midnight: two dates
    assert (
        "When: Thu, 12 Nov 2026, 22:00 JST – Fri, 13 Nov 2026, 00:00 JST (Asia/Tokyo); "
        "Thu, 12 Nov 2026, 14:00–16:00 CET (Europe/Brussels)"
    ) in text
    assert "Registration closes: Wed, 11 Nov 2026, 20:00 JST (Asia/Tokyo)" in text
    assert f"Details: {BASE_URL}/events/fresh" in text
    assert f"{BASE_URL}/preferences/" in text

    # Never twice: not on the next sweep, nor from a worker started afresh.
    clock.tick(60)
    assert calfeed.sweep() == []
    restart(calfeed)
    assert calfeed.sweep() == []
    clock.move_to("2026-10-02 13:00:00")  # an hour on: every subscriber planned again
    calfeed.sweep()
    assert [m.subject for m in calfeed.smtp.sink.messages] == ["New: Fresh forum"]
    news = [(r["subscriber_id"], r["event_id"], r["status"]) for r in calfeed.outbox()]
    assert [n for n in news if n[1] in ("fresh", "past", "elsewhere", "old")] == [
        (nora, "fresh", "sent")
    ]

    # The event she was told of is cancelled: she hears of that too, Bob does not.
    calfeed.event(
        "fresh",
        title="Fresh forum",
        start="2026-11-12T14:00",
        end="2026-11-12T16:00",
        status="cancelled",
    )
    clock.tick(60)
    calfeed.worker.live.refresh()
    assert [(m.to, m.subject) for m in calfeed.sweep()] == [
        ("nora@example.org", "Cancelled: Fresh forum")
    ]


def test_calfeed_reminders_lists_digests_and_new_event_mails(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    configure(calfeed, [EVA], defaults={"per_event": False, "digest": True, "new_events": True})
    digest_events(calfeed)
    clock.move_to("2026-10-18 12:00:00")
    calfeed.sweep()
    calfeed.event("fresh", title="Fresh forum", start="2026-11-12T14:00", end="2026-11-12T16:00")
    clock.tick(60)
    calfeed.worker.live.refresh()
    calfeed.sweep()

    config = str(calfeed.root / "config.yaml")
    result = CliRunner().invoke(main, ["--config", config, "reminders"])

    assert result.exit_code == 0, (result.output, result.exception)
    lines = [line.strip() for line in result.output.splitlines()]
    assert "2026-10-19 06:00 UTC  eva@example.org  weekly digest 2026-W43" in lines
    assert "2026-10-18 12:01 UTC  eva@example.org  fresh  new-event mail" in lines


@pytest.mark.parametrize(
    ("day", "hour", "zone", "expected"),
    [
        # 02:00 does not exist on 14 March 2027 in New York: the first instant after the jump.
        (date(2027, 3, 14), 2, NEW_YORK, "2027-03-14 07:00"),
        (date(2027, 3, 14), 3, NEW_YORK, "2027-03-14 07:00"),
        # 01:00 happens twice on 1 November 2026: the first of them (EDT).
        (date(2026, 11, 1), 1, NEW_YORK, "2026-11-01 05:00"),
        (date(2026, 10, 25), 2, STOCKHOLM, "2026-10-25 00:00"),  # twice: CEST first
        (date(2026, 3, 29), 2, STOCKHOLM, "2026-03-29 01:00"),  # skipped: 03:00 CEST
        (date(2026, 10, 19), 8, STOCKHOLM, "2026-10-19 06:00"),
        (date(2026, 10, 26), 8, STOCKHOLM, "2026-10-26 07:00"),
    ],
)
def test_a_digest_hour_names_one_instant_on_every_day_of_the_year(
    day: date, hour: int, zone: ZoneInfo, expected: str
) -> None:
    assert occurrence(day, hour, zone) == utc(expected)


def test_a_digest_on_a_sunday_at_two_in_new_york_arrives_after_the_jump(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    sam = {"email": "sam@example.org", "topics": ["procurement"], "timezone": "America/New_York"}
    configure(calfeed, [sam], digest={"weekday": "sunday", "hour": 2})
    calfeed.event("spring", title="Spring forum", start="2027-03-16T14:00", end="2027-03-16T15:00")
    clock.move_to("2027-03-13 12:00:00")
    calfeed.sweep()

    clock.move_to("2027-03-14 06:59:59")  # 01:59:59 EST
    assert calfeed.sweep() == []
    clock.move_to("2027-03-14 07:00:00")  # 03:00 EDT, the first instant after 02:00 was skipped
    [digest] = calfeed.sweep()
    assert digest.message["Message-ID"].startswith(
        f"<digest-{calfeed.subscriber_id('sam@example.org')}-2027-W10@"
    )

    with calfeed.engine.connect() as connection:
        due = connection.execute(
            sa.select(outbox.c.due_at).where(outbox.c.kind == "digest")
        ).scalar_one()
    assert due == utc("2027-03-14 07:00") == datetime(2027, 3, 14, 3, tzinfo=NEW_YORK)
    assert due - timedelta(seconds=1) == datetime(2027, 3, 14, 1, 59, 59, tzinfo=NEW_YORK)


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mail"


@pytest.mark.parametrize("part", ["txt", "html"])
@pytest.mark.parametrize("kind", ["digest", "new_event"])
def test_golden_digest_and_new_event_parts(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, kind: str, part: str
) -> None:
    # What Eva's mail client shows of her digest and of a new-event mail, byte for byte.
    configure(calfeed, [EVA], defaults={"per_event": False, "digest": True, "new_events": True})
    digest_events(calfeed)
    clock.move_to("2026-10-18 12:00:00")
    calfeed.sweep()
    if kind == "digest":
        clock.move_to("2026-10-19 06:00:00")
    else:
        calfeed.event(
            "fresh",
            title="Fresh forum",
            subtitle="Buying circular, in practice",
            start="2026-11-12T14:00",
            end="2026-11-12T16:00",
            location="Brussels",
            registration={"url": "https://example.org/register", "deadline": "2026-11-11T12:00"},
        )
        clock.tick(60)
        calfeed.worker.live.refresh()
    (received,) = calfeed.sweep()
    got = received.text() if part == "txt" else received.html()

    path = GOLDEN / f"{kind}.{part}"
    if os.environ.get("CALFEED_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with CALFEED_UPDATE_GOLDEN=1 to write it"
    assert got == path.read_text(encoding="utf-8"), (
        f"the {part} part differs from {path.name}; if intended, refresh with "
        "CALFEED_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reminders -k golden"
    )
