"""What a subscriber receives (``service/reminders/mail.py``): parts, times, headers, golden.

The golden files hold the text and HTML parts of one reminder, composed at a fixed time with
a fixed key. Refresh them after an intended change with::

    CALFEED_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reminders -k golden
"""

from __future__ import annotations

import email
import email.policy
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from freezegun.api import FrozenDateTimeFactory

from service.catalog import Config, Event
from service.live import LiveCatalog
from service.reminders.mail import Links, Reminder, compose, links_for, message_id
from service.tokens import TokenError, Tokens

from .conftest import BASE_URL, Calfeed, Received, check_mail, utc

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mail"
NEW_YORK = {
    "email": "nora@example.org",
    "topics": ["circular-economy"],
    "timezone": "America/New_York",
}
WEBINAR: dict[str, object] = {
    "title": "Circular Cities Declaration Webinar",
    "subtitle": "Introducing the Declaration and sharing inspiring examples",
    "topics": ["circular-economy", "procurement"],
    "timezone": "Europe/Brussels",
    "start": "2026-10-28T14:00",  # Europe is on winter time since 25 Oct, New York not until 1 Nov
    "end": "2026-10-28T16:00",
    "location": "Online",
    "registration": {"url": "https://example.org/register", "deadline": "2026-10-27T23:59"},
}


def without_registration(start: str) -> dict[str, object]:
    """Return the webinar's fields without a registration, starting at ``start`` for 2 hours."""
    end = (datetime.fromisoformat(start) + timedelta(hours=2)).isoformat(timespec="minutes")
    fields = {key: value for key, value in WEBINAR.items() if key != "registration"}
    return {**fields, "start": start, "end": end}


def composed(
    live: LiveCatalog,
    event_id: str,
    *,
    zone: str = "America/New_York",
    kind: str = "start",
    offset: timedelta = timedelta(days=1),
    subscriber_id: int = 7,
    now: datetime,
    tokens: Tokens | None = None,
) -> EmailMessage:
    """Compose a reminder the way the sender does."""
    edition = live.edition
    config = edition.catalog.config
    event = edition.catalog.by_id[event_id]
    if kind == "deadline":
        assert event.registration is not None and event.registration.deadline is not None
        target = event.registration.deadline
    else:
        target = event.start
    reminder = Reminder(
        "nora@example.org",
        ZoneInfo(zone),
        event,
        kind,
        int(offset.total_seconds()),
        target.astimezone(UTC),
    )
    return compose(
        reminder,
        config,
        ics=edition.event_feed(event_id).body,
        links=links_for(config, tokens or Tokens("golden-key"), subscriber_id, 1),
        message_id=message_id(subscriber_id, reminder, config),
        now=now,
    )


def parts(message: EmailMessage) -> tuple[str, str]:
    """Return the text and HTML a mail client shows."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def sent_parts(received: Received) -> tuple[bytes, bytes]:
    """Return the text and HTML parts as the bytes the server received (they go 8-bit)."""
    found = []
    for subtype in ("plain", "html"):
        part = received.message.get_body((subtype,))
        assert part is not None and part["Content-Transfer-Encoding"] == "8bit"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes) and payload in received.data
        found.append(payload)
    return found[0], found[1]


@pytest.fixture
def live(calfeed: Calfeed, clock: FrozenDateTimeFactory) -> LiveCatalog:
    """Return a live catalog on a project holding the webinar."""
    calfeed.configure([NEW_YORK])
    calfeed.event("webinar", **WEBINAR)
    return calfeed.open()


def test_a_reminder_shows_times_in_the_subscribers_zone_with_the_events_beside_them_across_dst(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NEW_YORK])
    calfeed.event("webinar", **WEBINAR)
    calfeed.event("next-webinar", **without_registration(start="2026-11-04T14:00"))
    calfeed.sweep()

    clock.move_to("2026-10-21 13:00:00")  # 7 days before: both zones still on summer time
    (week_before,) = calfeed.sweep()
    clock.move_to("2026-10-28 12:00:00")  # 1 hour before: Europe on winter time, New York not
    (hour_before,) = calfeed.sweep()
    clock.move_to("2026-10-28 13:00:00")
    (next_week,) = calfeed.sweep()  # 7 days before the 4 Nov webinar: both on winter time

    for received in (week_before, hour_before):
        text, html = received.text(), received.html()
        when = (
            "Wed, 28 Oct 2026, 09:00–11:00 EDT (America/New_York); "
            "Wed, 28 Oct 2026, 14:00–16:00 CET (Europe/Brussels)"
        )
        assert f"When: {when}" in text
        assert when in html
        deadline = (
            "Tue, 27 Oct 2026, 18:59 EDT (America/New_York); "
            "Tue, 27 Oct 2026, 23:59 CET (Europe/Brussels)"
        )
        assert f"Registration closes: {deadline}" in text
        check_mail(received, "webinar", calfeed.tokens)
    assert week_before.subject == "Starts in 7 days: Circular Cities Declaration Webinar"
    assert hour_before.subject == "Starts in 1 hour: Circular Cities Declaration Webinar"
    assert (
        "When: Wed, 4 Nov 2026, 08:00–10:00 EST (America/New_York); "
        "Wed, 4 Nov 2026, 14:00–16:00 CET (Europe/Brussels)"
    ) in next_week.text()


def test_everyone_in_one_batch_gets_their_own_times_link_and_message_id(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    people = [
        {"email": "nora@example.org", "topics": ["procurement"], "timezone": "America/New_York"},
        {"email": "ken@example.org", "topics": ["procurement"], "timezone": "Asia/Tokyo"},
        {"email": "bea@example.org", "topics": ["procurement"], "timezone": "Europe/Brussels"},
        {"email": "sam@example.org", "topics": ["procurement"], "timezone": "America/New_York"},
    ]
    calfeed.configure(people)
    calfeed.event("webinar", **without_registration("2026-11-10T14:00"))
    calfeed.sweep()
    clock.move_to("2026-11-03 13:00:00")
    received = {m.to: m for m in calfeed.sweep()}

    brussels = "Tue, 10 Nov 2026, 14:00–16:00 CET (Europe/Brussels)"
    expected = {
        "nora@example.org": f"Tue, 10 Nov 2026, 08:00–10:00 EST (America/New_York); {brussels}",
        "sam@example.org": f"Tue, 10 Nov 2026, 08:00–10:00 EST (America/New_York); {brussels}",
        "ken@example.org": f"Tue, 10 Nov 2026, 22:00 JST – Wed, 11 Nov 2026, 00:00 JST "
        f"(Asia/Tokyo); {brussels}",
        "bea@example.org": brussels,
    }
    assert sorted(received) == sorted(expected)
    ids = {row["email"]: row["message_id"] for row in calfeed.outbox()}
    for address, mail in received.items():
        assert mail.message["To"] == address
        assert f"When: {expected[address]}\n" in mail.text()
        assert mail.message_id == ids[address]
        header = mail.message["List-Unsubscribe"]
        token = header.removeprefix(f"<{BASE_URL}/unsubscribe/").removesuffix(">")
        ticket = calfeed.tokens.check("unsubscribe", token)
        assert ticket.subscriber_id == calfeed.subscriber_id(address)
        assert f"Unsubscribe with one click: {BASE_URL}/unsubscribe/{token}" in mail.text()
        assert f'href="{BASE_URL}/unsubscribe/{token}"' in mail.html()
        check_mail(mail, "webinar", calfeed.tokens)
    assert len({m.message_id for m in received.values()}) == 4


@pytest.mark.parametrize(
    ("start", "zone", "expected"),
    [
        pytest.param(
            "2026-03-18T14:00",
            "America/New_York",
            "Wed, 18 Mar 2026, 09:00–11:00 EDT (America/New_York); "
            "Wed, 18 Mar 2026, 14:00–16:00 CET (Europe/Brussels)",
            id="new-york-already-on-summer-time",
        ),
        pytest.param(
            "2026-03-30T14:00",
            "America/New_York",
            "Mon, 30 Mar 2026, 08:00–10:00 EDT (America/New_York); "
            "Mon, 30 Mar 2026, 14:00–16:00 CEST (Europe/Brussels)",
            id="both-on-summer-time",
        ),
        pytest.param(
            "2026-03-30T14:00",
            "Asia/Tokyo",
            "Mon, 30 Mar 2026, 21:00–23:00 JST (Asia/Tokyo); "
            "Mon, 30 Mar 2026, 14:00–16:00 CEST (Europe/Brussels)",
            id="tokyo",
        ),
        pytest.param(
            "2026-03-30T23:30",
            "Australia/Sydney",
            "Tue, 31 Mar 2026, 08:30–10:30 AEDT (Australia/Sydney); "
            "Mon, 30 Mar 2026, 23:30 CEST – Tue, 31 Mar 2026, 01:30 CEST (Europe/Brussels)",
            id="sydney-next-day",
        ),
        pytest.param(
            "2026-03-30T14:00",
            "Europe/Brussels",
            "Mon, 30 Mar 2026, 14:00–16:00 CEST (Europe/Brussels)",
            id="same-zone-written-once",
        ),
        pytest.param(
            "2026-03-30T14:00",
            "Europe/Vienna",
            "Mon, 30 Mar 2026, 14:00–16:00 CEST (Europe/Vienna and Europe/Brussels)",
            id="same-clock-in-another-zone-written-once",
        ),
    ],
)
def test_times_are_written_in_the_subscribers_zone(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, start: str, zone: str, expected: str
) -> None:
    calfeed.configure([NEW_YORK])
    calfeed.event("webinar", **without_registration(start))
    live = calfeed.open()

    message = composed(live, "webinar", zone=zone, now=utc("2026-03-01 09:00"))

    text, html = parts(message)
    assert f"When: {expected}" in text
    assert expected in html


def test_every_mail_is_text_and_html_with_the_events_ics_and_one_click_unsubscribe(
    live: LiveCatalog,
) -> None:
    tokens = Tokens("a-key")
    message = composed(
        live, "webinar", subscriber_id=42, now=utc("2026-10-27 13:00"), tokens=tokens
    )

    assert message.get_content_type() == "multipart/mixed"
    alternative = next(iter(message.iter_parts()))
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "webinar.ics"
    assert attachment.get_param("method") == "PUBLISH"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    assert calendar["METHOD"] == "PUBLISH"
    (entry,) = calendar.walk("VEVENT")
    assert str(entry["UID"]) == "webinar@events.example.org"
    assert entry.decoded("DTSTART") == datetime(
        2026, 10, 28, 14, tzinfo=ZoneInfo("Europe/Brussels")
    )

    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{BASE_URL}/unsubscribe/") and unsubscribe.endswith(">")
    token = unsubscribe[len(f"<{BASE_URL}/unsubscribe/") : -1]
    assert tokens.check("unsubscribe", token).subscriber_id == 42
    with pytest.raises(TokenError):
        Tokens("another-key").check("unsubscribe", token)
    with pytest.raises(TokenError):
        tokens.check("confirm", token)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Test events <reminders.events.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["From"] == "calfeed <calfeed@localhost>"
    assert message["To"] == "nora@example.org"
    text, html = parts(message)
    assert f"{BASE_URL}/unsubscribe/{token}" in text
    assert f'href="{BASE_URL}/unsubscribe/{token}"' in html


def test_the_same_reminder_composed_again_has_the_same_message_id(live: LiveCatalog) -> None:
    first = composed(live, "webinar", now=utc("2026-10-27 13:00"))
    again = composed(live, "webinar", now=utc("2026-10-27 13:04"))  # resent after a crash
    other_offset = composed(live, "webinar", offset=timedelta(hours=1), now=utc("2026-10-28 12:00"))
    other_person = composed(live, "webinar", subscriber_id=8, now=utc("2026-10-27 13:00"))
    deadline = composed(live, "webinar", kind="deadline", now=utc("2026-10-26 12:00"))

    assert first["Message-ID"] == again["Message-ID"]
    assert first["Date"] != again["Date"]
    ids = {m["Message-ID"] for m in (first, other_offset, other_person, deadline)}
    assert len(ids) == 4


def test_the_message_id_sent_is_the_one_the_outbox_records(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NEW_YORK])
    calfeed.event("webinar", **WEBINAR)
    calfeed.sweep()
    clock.move_to("2026-10-21 13:00:00")
    (received,) = calfeed.sweep()

    (row,) = [r for r in calfeed.outbox() if r["status"] == "sent"]
    assert row["message_id"] == received.message_id


def test_text_is_shown_as_written_and_html_escapes_it(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NEW_YORK])
    calfeed.event(
        "webinar", **{**WEBINAR, "title": "R&D <Procurement> – Łódź", "location": "A & B"}
    )
    message = composed(calfeed.open(), "webinar", now=utc("2026-10-27 13:00"))

    text, html = parts(message)
    assert "R&D <Procurement> – Łódź starts in 1 day." in text
    assert "<strong>R&amp;D &lt;Procurement&gt; – Łódź</strong> starts in 1 day." in html
    assert "<td>A &amp; B</td>" in html
    assert message["Subject"] == "Starts in 1 day: R&D <Procurement> – Łódź"


def test_an_operators_text_goes_out_as_written_and_escaped_in_html(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    # Markup, and strings that calfeed's sender once replaced in the bytes of every mail.
    title = "<script>x</script> when.placeholder.invalid"
    subtitle = "Ask recipient@placeholder.invalid, not https://placeholder.invalid/unsubscribe"
    location = "deadline.placeholder.invalid & https://placeholder.invalid/preferences"
    calfeed.configure([NEW_YORK])
    calfeed.event(
        "webinar", **{**WEBINAR, "title": title, "subtitle": subtitle, "location": location}
    )
    calfeed.sweep()
    clock.move_to("2026-10-21 13:00:00")
    (received,) = calfeed.sweep()

    sent_text, sent_html = sent_parts(received)
    assert f"{title} starts in 7 days.\r\n{subtitle}\r\n".encode() in sent_text
    assert f"Where: {location}\r\n".encode() in sent_text
    when = "Wed, 28 Oct 2026, 09:00–11:00 EDT (America/New_York); "
    assert f"When: {when}".encode() in sent_text  # the real times beside the operator's text
    assert b"<script" not in sent_html
    escaped = "&lt;script&gt;x&lt;/script&gt; when.placeholder.invalid"
    assert f"<strong>{escaped}</strong> starts in 7 days.".encode() in sent_html
    assert f"<p>{subtitle}</p>".encode() in sent_html
    assert b"<td>deadline.placeholder.invalid &amp; https://placeholder.invalid/preferences" in (
        sent_html
    )
    assert when.encode() in sent_html
    assert received.message["To"] == "nora@example.org"
    assert received.subject == f"Starts in 7 days: {title}"
    check_mail(received, "webinar", calfeed.tokens)


@pytest.mark.parametrize(
    ("kind", "offset", "now", "subject", "opening"),
    [
        ("start", timedelta(days=7), "2026-10-21 13:00", "Starts in 7 days", "starts in 7 days."),
        ("start", timedelta(hours=1), "2026-10-28 12:00", "Starts in 1 hour", "starts in 1 hour."),
        (
            "deadline",
            timedelta(days=1),
            "2026-10-26 11:00",
            "Registration closes in 1 day",
            "Registration for Circular Cities Declaration Webinar closes in 1 day.",
        ),
        ("cancelled", timedelta(0), "2026-10-27 09:00", "Cancelled", "has been cancelled."),
    ],
)
def test_subject_and_opening_say_what_the_reminder_is_about(
    live: LiveCatalog, kind: str, offset: timedelta, now: str, subject: str, opening: str
) -> None:
    message = composed(live, "webinar", kind=kind, offset=offset, now=utc(now))

    assert message["Subject"] == f"{subject}: Circular Cities Declaration Webinar"
    text, _ = parts(message)
    assert opening in text.splitlines()[0]


@pytest.mark.parametrize("part", ["txt", "html"])
def test_golden_reminder_parts(calfeed: Calfeed, clock: FrozenDateTimeFactory, part: str) -> None:
    # What Nora's mail client shows of the reminder the worker sent her, byte for byte.
    clock.move_to("2026-10-20 09:00:00")
    calfeed.configure([NEW_YORK], reminders={"before_start": ["1d"]})
    calfeed.event("circular-cities-webinar-2026-10", **WEBINAR)
    calfeed.sweep()
    clock.move_to("2026-10-27 13:00:00")
    (received,) = calfeed.sweep()
    got = received.text() if part == "txt" else received.html()

    path = GOLDEN / f"reminder.{part}"
    if os.environ.get("CALFEED_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with CALFEED_UPDATE_GOLDEN=1 to write it"
    assert got == path.read_text(encoding="utf-8"), (
        f"the {part} part differs from {path.name}; if intended, refresh with "
        "CALFEED_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reminders -k golden"
    )


def test_the_register_link_shows_only_while_registration_is_open(calfeed: Calfeed) -> None:
    calfeed.configure([NEW_YORK])
    calfeed.event("webinar", **WEBINAR)  # registration closes 2026-10-27 23:59 in Brussels
    live = calfeed.open()

    before = composed(live, "webinar", now=utc("2026-10-27 13:00"))
    after = composed(live, "webinar", offset=timedelta(hours=1), now=utc("2026-10-28 12:00"))

    for message, shown in ((before, True), (after, False)):
        text, html = parts(message)
        assert ("Register: https://example.org/register" in text) is shown
        assert ('href="https://example.org/register"' in html) is shown


def webinar_mail(live: LiveCatalog, event: Event, config: Config) -> bytes:
    """Compose the webinar's start reminder from ``event`` and ``config``, as sent."""
    reminder = Reminder("nora@example.org", ZoneInfo("UTC"), event, "start", 86400, event.start)
    message = compose(
        reminder,
        config,
        ics=live.edition.event_feed("webinar").body,
        links=Links(f"{BASE_URL}/unsubscribe/token", f"{BASE_URL}/preferences/token"),
        message_id="<reminder.1@events.example.org>",
        now=utc("2026-10-27 13:00"),
    )
    return message.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize(
    "title",
    [
        "Circular Cities Webinar\n",  # what a folded scalar (title: >) gives
        "Circular Cities\nBcc: someone@example.net",
        "Circular Cities\r\nBcc: someone@example.net\r\n",
        "Circular\u2028Cities\tWebinar",
    ],
)
def test_a_title_with_line_breaks_never_breaks_the_headers_on_the_wire(
    live: LiveCatalog, title: str
) -> None:
    event = replace(live.edition.catalog.by_id["webinar"], title=title)

    data = webinar_mail(live, event, live.edition.catalog.config)
    head = data.partition(b"\r\n\r\n")[0]
    assert b"\n" not in head.replace(b"\r\n", b""), "a bare line break in the headers"
    names = [line.split(b":")[0] for line in head.split(b"\r\n") if not line[:1].isspace()]
    assert b"Bcc" not in names
    assert {b"From", b"To", b"Message-ID", b"List-Unsubscribe"} <= set(names)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == "Starts in 1 day: " + " ".join(title.split())


@pytest.mark.parametrize(
    "name",
    ['U": 0écBcc: x@example.orgé🏻ć5< "?=C–', 'Événements "Europe"', "Events, Brussels"],
)
def test_the_senders_name_reads_back_as_the_operator_wrote_it(live: LiveCatalog, name: str) -> None:
    config = live.edition.catalog.config
    sender = formataddr((name, "events@example.org"))
    config = replace(config, mail=replace(config.mail, sender=sender))

    data = webinar_mail(live, live.edition.catalog.by_id["webinar"], config)
    [sent] = email.message_from_bytes(data, policy=email.policy.default)["From"].addresses
    assert (sent.display_name, sent.addr_spec) == (name, "events@example.org")
