"""The calendar an ended personal feed answers, read by independent readers.

(The personal feed over HTTP is in ``test_signup.py``, beside the sign-up it follows.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import icalendar
from ical.calendar_stream import IcsCalendarStream

from service.catalog import Catalog
from service.web.personal import ended_feed


def test_the_ended_calendar_is_one_all_day_entry_that_strict_readers_accept(
    load: Callable[[], Catalog],
) -> None:
    config = load().config
    now = datetime(2030, 3, 2, 23, 30, tzinfo=UTC)  # already 3 March in Brussels

    feed = ended_feed(config, now)

    body = feed.body
    assert body.startswith(b"BEGIN:VCALENDAR\r\n") and body.endswith(b"END:VCALENDAR\r\n")
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    assert b"\n" not in body.replace(b"\r\n", b"")
    strict = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    (entry,) = strict.events
    assert entry.dtstart == date(2030, 3, 3)
    assert entry.dtend == date(2030, 3, 4)
    assert entry.summary == "Your reminders from Test events have ended"
    assert entry.uid == "reminders-ended@events.example.org"
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["METHOD"] == "PUBLISH"
    assert calendar["REFRESH-INTERVAL"].to_ical() == calendar["X-PUBLISHED-TTL"].to_ical()
    # The same bytes all day long: a client polling again gets a 304.
    assert ended_feed(config, datetime(2030, 3, 3, 12, 0, tzinfo=UTC)).etag == feed.etag
    assert ended_feed(config, datetime(2030, 3, 3, 23, 30, tzinfo=UTC)).etag != feed.etag
