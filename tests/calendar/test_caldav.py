"""The feeds in a real CalDAV server (Radicale on loopback), asked as CalDAV clients ask.

Every feed of the edge catalog is imported into one server process, one collection per feed
(conftest.py ``caldav_server``), so the zone cache of vobject inside it is in play: it reads
every calendar through the first VTIMEZONE it saw for each TZID. Then:

* each timed entry of each event's calendar (the event and its sessions) is found by a
  ``time-range`` REPORT of the minute from its true start, and of the minute up to its true
  end, and each such REPORT finds exactly the entries whose true times overlap that minute:
  read an hour late, an entry misses its first minute; an hour early, its last;
* each topic feed's collection finds all its entries over the whole span, and no others;
* the texts of every object, as the server serves them back, are the YAML's.

An entry's bytes are the same in every feed and the server reads them through the same
zone whichever collection holds them, so the minute-by-minute queries are asked in the
event calendars, which hold every entry, sessions included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import Imported
from parsers import caldav
from parsers.oracle import ServedFeed, as_read, text_mismatches

MINUTE = timedelta(minutes=1)


def test_caldav_finds_each_entry_in_the_minutes_of_its_true_start_and_end(
    event_feed: ServedFeed, caldav_server: Imported
) -> None:
    name = caldav_server.collection(event_feed)
    timed: list[tuple[str, datetime, datetime]] = []  # uid, start, end
    for entry in event_feed.entries:
        if isinstance(entry.start, datetime):
            assert isinstance(entry.end, datetime), entry
            timed.append((entry.uid, entry.start, entry.end))
    windows = {(first, first + MINUTE) for _, first, _ in timed}
    windows |= {(last - MINUTE, last) for _, _, last in timed}
    uids = {uid for uid, _, _ in timed}

    wrong = []
    for start, end in sorted(windows):
        expected = {uid for uid, first, last in timed if first < end and last > start}
        found = caldav_server.server.uids_between(name, start, end) & uids
        if found != expected:
            wrong.append(
                f"{start:%Y-%m-%dT%H:%MZ}+1min: found {sorted(found)}, not {sorted(expected)}"
            )

    assert wrong == []


def test_caldav_finds_every_entry_of_a_topic_feed_and_no_other(
    topic_feed: ServedFeed, caldav_server: Imported
) -> None:
    name = caldav_server.collection(topic_feed)
    everything = (datetime(1969, 1, 1, tzinfo=UTC), datetime(2039, 1, 1, tzinfo=UTC))

    found = caldav_server.server.uids_between(name, *everything)

    assert found == {entry.uid for entry in topic_feed.entries}


def test_texts_round_trip_through_caldav(feed: ServedFeed, caldav_server: Imported) -> None:
    objects = caldav_server.objects[feed.path]
    events = {event.id: event for event in feed.events}
    wrong = []
    for entry in feed.entries:
        event = events[entry.event_id]
        got = caldav.texts(objects[entry.uid])
        wrong += text_mismatches(entry, event, got)
        names = [as_read(feed.project.topics[slug]) for slug in event.topics]
        if list(got.categories) != (names if entry.session_id is None else []):
            wrong.append(f"{entry.uid} CATEGORIES {got.categories!r} are not {names!r}")

    assert wrong == [], "\n".join(wrong)
