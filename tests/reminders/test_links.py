"""What every mail links to, read from the bytes the SMTP server receives.

A mail client reads List-Unsubscribe as sent: one ``<https://...>`` on one line, never
RFC 2047-encoded (Gmail and Yahoo offer one-click unsubscribe only then), however long the
site address and token. Every mail, reminders and account mails alike, links in its text and
HTML parts to the subscriber's own preferences and to one-click unsubscribe.
"""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory

from service.reminders import outbox
from service.reminders import subscribers as store

from .conftest import Calfeed, Received

# A site under a long path: every link is far over the 78 characters a header line should keep.
LONG_BASE = "https://events.example.org/sustainable-procurement/calendar-and-reminders-service"


def header_lines(data: bytes, name: str) -> list[bytes]:
    """Return the raw lines of header ``name``, its folded continuation lines included."""
    head = data.partition(b"\r\n\r\n")[0]
    pattern = rb"^" + re.escape(name.encode()) + rb":[^\r\n]*(?:\r\n[ \t][^\r\n]*)*"
    return [m.group(0) for m in re.finditer(pattern, head, re.M | re.I)]


def token_in(url: str, route: str, base: str) -> str:
    assert url.startswith(f"{base}/{route}/"), url
    return url.removeprefix(f"{base}/{route}/")


def check_links(calfeed: Calfeed, received: Received, base: str) -> None:
    """Assert the raw list headers, and the preferences and unsubscribe links of both parts."""
    person = calfeed.subscriber_id(received.to)
    (unsubscribe,) = header_lines(received.data, "List-Unsubscribe")
    assert b"=?" not in unsubscribe
    found = re.fullmatch(rb"List-Unsubscribe: <(https://[^<>\s]+)>", unsubscribe)
    assert found, unsubscribe
    url = found.group(1).decode()
    assert (
        calfeed.tokens.check("unsubscribe", token_in(url, "unsubscribe", base)).subscriber_id
        == person
    )
    assert header_lines(received.data, "List-Unsubscribe-Post") == [
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    ]

    text, html = received.text(), received.html()
    assert f"Unsubscribe with one click: {url}\n" in text
    assert f'href="{url}"' in html
    preferences = re.findall(rf"{re.escape(base)}/preferences/[^\s\"<]+", text)
    assert len(preferences) >= 1, text
    for link in preferences:
        assert (
            calfeed.tokens.check("manage", token_in(link, "preferences", base)).subscriber_id
            == person
        )
        assert f'href="{link}"' in html


@pytest.mark.parametrize("base", ["https://events.example.org", LONG_BASE])
def test_a_reminders_links_and_list_headers_on_the_wire(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, base: str
) -> None:
    calfeed.configure(
        [{"email": "nora@example.org", "topics": ["procurement"]}],
        site={"title": "Test events", "base_url": base, "timezone": "Europe/Brussels"},
    )
    calfeed.event("webinar")
    calfeed.sweep()
    clock.move_to("2026-11-03 13:00:00")  # 7 days before

    (received,) = calfeed.sweep()

    check_links(calfeed, received, base)


@pytest.mark.parametrize("kind", ["confirm", "manage"])
@pytest.mark.parametrize("base", ["https://events.example.org", LONG_BASE])
def test_account_mails_links_and_list_headers_on_the_wire(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, base: str, kind: str
) -> None:
    calfeed.configure(
        [], site={"title": "Test events", "base_url": base, "timezone": "Europe/Brussels"}
    )
    calfeed.event("webinar")
    now = calfeed.worker.clock()
    with calfeed.engine.begin() as connection:
        person, _ = store.request(
            connection, "ann@example.org", ["procurement"], ZoneInfo("UTC"), now
        )
        if kind == "manage":
            store.confirm(connection, person.id, now)
        outbox.queue_account_mail(connection, person.id, kind, now, timedelta(hours=72))

    (received,) = calfeed.sweep()

    check_links(calfeed, received, base)


@pytest.mark.parametrize("kind", ["deadline", "cancelled"])
def test_deadline_reminders_and_cancellation_notices_carry_both_links_on_the_wire(
    calfeed: Calfeed, clock: FrozenDateTimeFactory, kind: str
) -> None:
    base = "https://events.example.org"
    calfeed.configure([{"email": "nora@example.org", "topics": ["procurement"]}])
    registration = {"url": "https://example.org/register", "deadline": "2026-11-09T12:00"}
    calfeed.event("webinar", registration=registration)
    calfeed.sweep()
    clock.move_to("2026-11-06 12:00:00")  # registration closes in 3 days

    sent = calfeed.sweep()  # and the one of 7 days before the start, caught up
    if kind == "cancelled":  # a notice goes to those already reminded
        calfeed.event("webinar", registration=registration, status="cancelled")
        sent = calfeed.sweep()

    subject = "Cancelled: " if kind == "cancelled" else "Registration closes in 3 days"
    (received,) = [mail for mail in sent if mail.subject.startswith(subject)]
    check_links(calfeed, received, base)


def test_change_notices_digests_and_new_event_mails_carry_both_links_on_the_wire(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    base = "https://events.example.org"
    everything = {"per_event": True, "digest": True, "new_events": True}
    calfeed.configure(
        [{"email": "nora@example.org", "topics": ["procurement"], "timezone": "Europe/Brussels"}],
        reminders={
            "before_start": ["1d"],
            "digest": {"weekday": "monday", "hour": 8},
            "defaults": everything,
        },
    )
    calfeed.event("webinar")  # 10 November
    assert calfeed.sweep() == []
    clock.move_to("2026-11-01 12:00:00")  # a Sunday
    calfeed.event("fresh", title="Fresh forum", start="2026-11-05T14:00", end="2026-11-05T16:00")
    calfeed.event("webinar", start="2026-11-11T14:00", end="2026-11-11T16:00")  # moved
    calfeed.worker.live.refresh()
    sent = calfeed.sweep()
    clock.tick(timedelta(minutes=5))  # the change has settled
    sent += calfeed.sweep()
    clock.move_to("2026-11-02 07:00:00")  # Monday 08:00 in Brussels
    sent += calfeed.sweep()

    subjects = sorted(mail.subject for mail in sent)
    assert [s.split(":")[0] for s in subjects] == ["Coming up until Mon 9 Nov", "Moved", "New"], (
        subjects
    )
    for received in sent:
        check_links(calfeed, received, base)
