"""``calfeed reminders`` (``service/reminders/report.py``): what an operator reads.

The command runs through click's CliRunner on the test's project while the worker sends to
the test SMTP server under frozen time.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result
from freezegun.api import FrozenDateTimeFactory

from service.cli import main
from service.reminders import outbox
from service.reminders import subscribers as subscriber_store

from .conftest import Calfeed, utc

PEOPLE = [
    {"email": "ann@example.org", "topics": ["procurement"]},
    {"email": "bob@example.org", "topics": ["procurement"]},
    {"email": "carol@example.org", "topics": ["procurement"]},
]
REGISTRATION = {"url": "https://example.org/register", "deadline": "2026-11-06T23:59"}
UNKNOWN = "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown"
GREYLISTED = "451 4.7.1 Greylisted, please try again later"


def reminders(calfeed: Calfeed, *options: str) -> Result:
    """Run ``calfeed reminders`` on the project."""
    config = str(calfeed.root / "config.yaml")
    return CliRunner().invoke(main, ["--config", config, "reminders", *options])


def sections(output: str) -> dict[str, list[str]]:
    """Return each section's title (without its count) and its lines."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if line and not line.startswith(" "):
            title = line.rstrip(":").rpartition(" (")[0]
            current = found.setdefault(title, [])
        elif line.strip():
            current.append(line.strip())
    return found


def test_it_shows_what_was_sent_what_failed_with_the_servers_reply_and_what_is_retried(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure(PEOPLE)
    calfeed.event("webinar", registration=REGISTRATION)
    calfeed.sweep()
    clock.move_to("2026-11-03 13:00:00")
    calfeed.smtp.sink.refused["bob@example.org"] = UNKNOWN
    calfeed.smtp.sink.refused["carol@example.org"] = GREYLISTED
    calfeed.sweep()
    clock.move_to("2026-11-03 13:05:00")

    result = reminders(calfeed)

    assert result.exit_code == 0, (result.output, result.exception)
    shown = sections(result.output)
    assert shown["Sent"] == ["2026-11-03 13:00 UTC  ann@example.org  webinar  7d before start"]
    assert shown["Failed"] == [
        f"2026-11-03 13:00 UTC  bob@example.org  webinar  7d before start  [{UNKNOWN}]"
    ]
    assert shown["Retrying"] == [
        f"2026-11-03 13:00 UTC  carol@example.org  webinar  7d before start  [{GREYLISTED}]"
    ]
    assert "Failed (1):" in result.output
    assert shown["Skipped or withdrawn"] == []
    upcoming = shown["Upcoming"]
    assert "2026-11-03 22:59 UTC  ann@example.org  webinar  3d before registration closes" in (
        upcoming
    )
    assert "2026-11-10 12:00 UTC  carol@example.org  webinar  1h before start" in upcoming
    assert not [line for line in upcoming if "ann@example.org" in line and "1w" in line]


def test_a_retry_shows_however_many_reminders_are_planned_after_it(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure(PEOPLE)
    calfeed.event("webinar", registration=REGISTRATION)
    calfeed.sweep()
    clock.move_to("2026-11-03 13:00:00")
    calfeed.smtp.sink.refused["carol@example.org"] = GREYLISTED
    calfeed.sweep()

    result = reminders(calfeed, "--limit", "1")  # later planned reminders outnumber it

    assert result.exit_code == 0, (result.output, result.exception)
    assert sections(result.output)["Retrying"] == [
        f"2026-11-03 13:00 UTC  carol@example.org  webinar  7d before start  [{GREYLISTED}]"
    ]


def test_it_lists_what_will_be_sent_to_whom_and_when_on_a_fresh_project(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure(PEOPLE[:1], reminders={"before_start": ["7d", "90m"]})
    calfeed.event("webinar")  # nothing has run yet: no database
    assert not (calfeed.root / "var").exists()

    result = reminders(calfeed)

    assert result.exit_code == 0, (result.output, result.exception)
    assert sections(result.output) == {
        "Upcoming": [
            "2026-11-03 13:00 UTC  ann@example.org  webinar  7d before start",
            "2026-11-10 11:30 UTC  ann@example.org  webinar  90m before start",
        ],
        "Sent": [],
        "Failed": [],
        "Retrying": [],
        "Skipped or withdrawn": [],
    }


def test_it_shows_what_was_skipped_or_withdrawn_and_why(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure(PEOPLE[:2])
    calfeed.event("webinar")
    calfeed.sweep()
    clock.move_to("2026-11-09 14:00:00")  # back after downtime: the 7d reminders are stale
    calfeed.sweep()
    clock.move_to("2026-11-09 15:00:00")
    with calfeed.engine.begin() as connection:
        subscriber_store.unsubscribe(
            connection, calfeed.subscriber_id("bob@example.org"), utc("2026-11-09 15:00")
        )

    result = reminders(calfeed)

    assert result.exit_code == 0, (result.output, result.exception)
    shown = sections(result.output)
    assert sorted(shown["Skipped or withdrawn"]) == [
        "2026-11-03 13:00 UTC  ann@example.org  webinar  7d before start  "
        "[a later reminder of the same kind was due]",
        "2026-11-03 13:00 UTC  bob@example.org  webinar  7d before start  "
        "[a later reminder of the same kind was due]",
        "2026-11-10 12:00 UTC  bob@example.org  webinar  1h before start  [subscriber left]",
    ]
    assert [line for line in shown["Upcoming"] if "bob@" in line] == []


def test_a_confirmation_mail_is_not_shown_as_a_reminder_before_a_start(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([])
    calfeed.event("webinar")
    calfeed.sweep()
    now = utc("2026-10-01 12:00")
    with calfeed.engine.begin() as connection:
        person, _ = subscriber_store.request(
            connection, "dora@example.org", ["procurement"], ZoneInfo("Europe/Paris"), now
        )
        outbox.queue_account_mail(connection, person.id, "confirm", now, timedelta(days=2))
    clock.move_to("2026-10-01 12:00:01")
    assert [m.to for m in calfeed.sweep()] == ["dora@example.org"]

    result = reminders(calfeed)

    assert result.exit_code == 0, (result.output, result.exception)
    (line,) = sections(result.output)["Sent"]
    assert "dora@example.org" in line
    assert "before start" not in line and "0w" not in line, line


def test_reminders_called_off_before_they_were_queued_are_shown_withdrawn_with_why(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure(PEOPLE[:2])
    calfeed.event("webinar")
    calfeed.event("forum", start="2026-11-20T10:00", end="2026-11-20T12:00")
    calfeed.sweep()  # a month ahead: nothing is queued yet
    assert len(sections(reminders(calfeed).output)["Upcoming"]) == 12
    with calfeed.engine.begin() as connection:
        subscriber_store.unsubscribe(
            connection, calfeed.subscriber_id("bob@example.org"), utc("2026-10-01 12:00")
        )
    calfeed.event("forum", start="2026-11-20T10:00", end="2026-11-20T12:00", status="cancelled")

    shown = sections(reminders(calfeed).output)

    assert shown["Upcoming"] == [
        "2026-11-03 13:00 UTC  ann@example.org  webinar  7d before start",
        "2026-11-09 13:00 UTC  ann@example.org  webinar  1d before start",
        "2026-11-10 12:00 UTC  ann@example.org  webinar  1h before start",
    ]
    withdrawn = shown["Skipped or withdrawn"]
    assert len(withdrawn) == 9, reminders(calfeed).output
    assert "2026-11-03 13:00 UTC  bob@example.org  webinar  7d before start  [subscriber left]" in (
        withdrawn
    )
    assert "2026-11-13 09:00 UTC  ann@example.org  forum  7d before start  [event cancelled]" in (
        withdrawn
    )
