"""Whole calendars (``service/calendar/feed.py``) as clients receive them.

Each test runs on every feed of the seed project and of the edge-case catalog (see
conftest.py): feeds/all.ics, each topic, a pair of topics, each event's .ics. They check
docs/promises.md, "What a feed satisfies": the bytes (1), the header (2), the VTIMEZONEs (3)
and the instants four independent parsers read through them (4). VTIMEZONE construction
itself is tests/calendar/test_vtimezone.py's; here it is checked as part of the feeds that use it.
"""

from __future__ import annotations

import re
import zoneinfo
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from parsers import lines, readers
from parsers.oracle import ServedFeed

from service.calendar.assembly import Block, Header, assemble, stamp_block
from service.calendar.zones import zone

FeedSets = dict[str, dict[str, ServedFeed]]
IANA = zoneinfo.available_timezones()
DATE_TIME = re.compile(r"\d{8}T\d{6}Z?")
UTC_ONLY = {"DTSTAMP", "LAST-MODIFIED", "CREATED", "COMPLETED"}
OBSERVANCE_PROPERTIES = {"DTSTART", "TZOFFSETFROM", "TZOFFSETTO", "RRULE", "TZNAME", "COMMENT"}


def header(feed: ServedFeed) -> list[lines.Line]:
    """Return the calendar's own properties: the lines before its first component."""
    found = []
    for line in lines.content_lines(feed.body)[1:]:
        if line.name == "BEGIN":
            break
        found.append(line)
    return found


def one(found: list[lines.Line], name: str) -> lines.Line:
    """Return the only line called ``name``."""
    named = [line for line in found if line.name == name]
    assert len(named) == 1, f"{name} appears {len(named)} times"
    return named[0]


# --- 1. bytes ----------------------------------------------------------------------------


def test_every_line_ends_in_crlf(feed: ServedFeed) -> None:
    body = feed.body

    assert body.startswith(b"BEGIN:VCALENDAR\r\n")
    assert body.endswith(b"END:VCALENDAR\r\n")
    assert body.count(b"\n") == body.count(b"\r\n"), "a bare LF"
    assert body.count(b"\r") == body.count(b"\r\n"), "a bare CR"


def test_lines_are_folded_at_75_octets_between_utf8_characters(feed: ServedFeed) -> None:
    too_long, split, empty_folds = [], [], []
    for number, line in enumerate(lines.physical_lines(feed.body), 1):
        if len(line) > 75:
            too_long.append(f"line {number}: {len(line)} octets")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            split.append(f"line {number} splits a character: {line[-8:]!r}")
        if line == b" ":
            empty_folds.append(f"line {number}")

    assert too_long == []
    assert split == []
    assert empty_folds == []


def test_the_feed_is_utf8_without_a_byte_order_mark(feed: ServedFeed) -> None:
    assert not feed.body.startswith(b"\xef\xbb\xbf")
    assert "\ufeff" not in feed.body.decode("utf-8")


def test_long_unicode_text_is_folded_and_unfolds_to_the_text(feed_sets: FeedSets) -> None:
    long_feed = feed_sets["edge"]["events/very-long-lines.ics"]
    folded = [line for line in lines.physical_lines(long_feed.body) if line.startswith(b" ")]
    description = icalendar.Calendar.from_ical(long_feed.body).events[0]["DESCRIPTION"]

    assert len(folded) > 50
    assert str(description).startswith(long_feed.events[0].raw["description"])


# --- 2. the header -----------------------------------------------------------------------


def test_the_header_names_version_method_and_calendar(feed: ServedFeed) -> None:
    found = header(feed)
    name = one(found, "NAME")
    calname = one(found, "X-WR-CALNAME")

    assert one(found, "VERSION").value == "2.0"
    assert one(found, "METHOD").value == "PUBLISH"
    assert one(found, "PRODID").value.startswith("-//")
    assert name.value == calname.value
    assert feed.project.calendar_name(feed.path) in lines.unescape(name.value)


def test_refresh_interval_and_published_ttl_are_the_configured_refresh(feed: ServedFeed) -> None:
    found = header(feed)
    refresh = one(found, "REFRESH-INTERVAL")
    ttl = one(found, "X-PUBLISHED-TTL")

    assert refresh.params == {"VALUE": "DURATION"}
    assert refresh.value == ttl.value
    assert icalendar.vDuration.from_ical(refresh.value) == feed.project.refresh  # type: ignore[no-untyped-call]


def test_prodid_is_one_value_in_every_feed_and_build(
    feed_sets: FeedSets, build_edge: Callable[[datetime], dict[str, ServedFeed]]
) -> None:
    later = build_edge(datetime(2027, 2, 3, tzinfo=UTC))["feeds/all.ics"]
    feeds = [*(f for fs in feed_sets.values() for f in fs.values()), later]

    assert len({one(header(f), "PRODID").value for f in feeds}) == 1


# --- 3. time zones -----------------------------------------------------------------------


def test_each_tzid_used_has_one_vtimezone_before_the_first_event(feed: ServedFeed) -> None:
    content = lines.content_lines(feed.body)
    used = {line.params["TZID"] for line in content if "TZID" in line.params}
    defined = [line.value for line in content if line.name == "TZID"]
    begins = [(i, line.value) for i, line in enumerate(content) if line.name == "BEGIN"]
    first_event = min((i for i, kind in begins if kind == "VEVENT"), default=len(content))
    last_timezone = max((i for i, kind in begins if kind == "VTIMEZONE"), default=-1)

    assert Counter(defined) == Counter(used), "one VTIMEZONE per TZID used, no more"
    assert last_timezone < first_event


def test_tzids_are_the_events_iana_zones(feed: ServedFeed) -> None:
    zones = {entry.uid: entry.zone for entry in feed.entries}
    wrong = []
    for block in lines.blocks(feed.body):
        uid = one(block, "UID").value
        for line in block:
            tzid = line.params.get("TZID")
            if tzid is not None and (tzid not in IANA or tzid != zones[uid]):
                wrong.append(f"{uid} {line.name};TZID={tzid}, expected {zones[uid]}")

    assert wrong == []


def test_no_time_is_floating_and_utc_ends_in_z(feed: ServedFeed) -> None:
    wrong = []
    for block in lines.blocks(feed.body):
        for line in block:
            if not DATE_TIME.fullmatch(line.value):
                continue
            if line.name in UTC_ONLY and not (line.value.endswith("Z") and not line.params):
                wrong.append(f"{line.name} is not UTC: {line.value}")
            elif "TZID" not in line.params and not line.value.endswith("Z"):
                wrong.append(f"{line.name} is floating: {line.value}")
            elif "TZID" in line.params and line.value.endswith("Z"):
                wrong.append(f"{line.name} has a TZID and a Z: {line.value}")

    assert wrong == []


def test_vtimezones_are_rrules_without_rdate(feed: ServedFeed) -> None:
    wrong = []
    for kind in ("STANDARD", "DAYLIGHT"):
        for observance in lines.blocks(feed.body, kind):
            names = Counter(line.name for line in observance)
            if set(names) - OBSERVANCE_PROPERTIES:
                wrong.append(f"{kind} has {sorted(set(names) - OBSERVANCE_PROPERTIES)}")
            if any(names[name] != 1 for name in ("DTSTART", "TZOFFSETFROM", "TZOFFSETTO")):
                wrong.append(f"{kind} lacks or repeats DTSTART/TZOFFSETFROM/TZOFFSETTO")
            for line in observance:
                until = re.search(r"UNTIL=([0-9TZ]+)", line.value) if line.name == "RRULE" else None
                if until and not until[1].endswith("Z"):
                    wrong.append(f"RRULE UNTIL is not UTC: {line.value}")

    assert b"RDATE" not in feed.body
    assert wrong == []


def test_each_vtimezone_starts_before_the_entries_that_use_it(feed: ServedFeed) -> None:
    calendar = icalendar.Calendar.from_ical(feed.body)
    onsets = {
        str(tz["TZID"]): min(sub.DTSTART for sub in tz.subcomponents) for tz in calendar.timezones
    }
    late = []
    for event in calendar.events:
        for name in ("DTSTART", "DTEND"):
            prop = event[name]
            assert isinstance(prop, icalendar.vDDDTypes), prop
            tzid = prop.params.get("TZID")
            if tzid is None:
                continue
            moment = prop.dt
            assert isinstance(moment, datetime), prop
            if moment.replace(tzinfo=None) < onsets[tzid]:
                late.append(f"{event['UID']} {name} {moment} before {tzid}'s first onset")

    assert late == []


# --- 4. instants -------------------------------------------------------------------------


@pytest.mark.parametrize("reader", readers.TIME_READERS)
def test_every_instant_reads_back_as_zoneinfo_says(
    feed: ServedFeed,
    reader: str,
    read_feed: Callable[[str, ServedFeed], readers.Reading],
) -> None:
    expected = {entry.uid: (entry.start, entry.end) for entry in feed.entries}

    reading = {uid: read.times for uid, read in read_feed(reader, feed).items()}

    wrong = [
        f"{uid}: expected {_shown(expected.get(uid))}, {reader} reads {_shown(reading.get(uid))}"
        for uid in sorted(set(expected) | set(reading))
        if expected.get(uid) != reading.get(uid)
    ]
    assert not wrong, "\n".join(wrong)


def test_both_occurrences_of_a_repeated_hour_are_written_in_utc(feed_sets: FeedSets) -> None:
    second = feed_sets["edge"]["events/europe-brussels-second-0230.ics"]
    through = feed_sets["edge"]["events/europe-brussels-first-to-second.ics"]
    (second_block,) = lines.blocks(second.body)
    (through_block,) = lines.blocks(through.body)

    # A local 02:30 on that night means the first occurrence to RFC 5545 readers and the
    # second to ical.js and libical: only UTC names one instant to all of them.
    assert one(second_block, "DTSTART").value == "20261025T013000Z"
    assert one(through_block, "DTSTART").params == {}
    assert one(through_block, "DTSTART").value == "20261025T001000Z"
    assert one(through_block, "DTEND").value == "20261025T014000Z"


# --- assembling --------------------------------------------------------------------------


def test_an_empty_topic_is_a_valid_calendar_without_timezones(feed_sets: FeedSets) -> None:
    empty = feed_sets["edge"]["feeds/empty.ics"]
    calendar = icalendar.Calendar.from_ical(empty.body)

    assert calendar.events == []
    assert calendar.timezones == []
    assert readers.read_ical(empty.body) == {}


def test_assemble_writes_the_vtimezone_of_each_zone_its_blocks_use_once() -> None:
    def block(uid: str, zone: str | None) -> Block:
        start = f"DTSTART;TZID={zone}:20260615T100000" if zone else "DTSTART:20260615T100000Z"
        data = f"BEGIN:VEVENT\r\nUID:{uid}\r\n{start}\r\nEND:VEVENT\r\n"
        return Block(uid, data.encode(), zone)

    zones = {tzid: zone(tzid, 2026, 2026) for tzid in ("Asia/Tokyo", "Europe/Brussels", "UTC")}
    blocks = [block("a", "Europe/Brussels"), block("b", "Asia/Tokyo"), block("c", None)]
    blocks.append(block("d", "Europe/Brussels"))

    body = assemble(Header("Test", None, None, timedelta(hours=6)), blocks, zones)

    calendar = icalendar.Calendar.from_ical(body)
    assert [str(tz["TZID"]) for tz in calendar.timezones] == ["Asia/Tokyo", "Europe/Brussels"]
    assert body.count(zones["Europe/Brussels"].vtimezone) == 1
    assert [str(event["UID"]) for event in calendar.events] == ["a", "b", "c", "d"]


def test_a_tzid_is_the_same_vtimezone_in_every_feed_of_a_catalog(feed_sets: FeedSets) -> None:
    for feeds in feed_sets.values():
        seen: dict[str, set[bytes]] = {}
        for served in feeds.values():
            for vtimezone in re.findall(
                rb"BEGIN:VTIMEZONE\r\n.*?END:VTIMEZONE\r\n", served.body, re.S
            ):
                tzid = re.search(rb"TZID:(.*?)\r\n", vtimezone)
                assert tzid is not None
                seen.setdefault(tzid[1].decode(), set()).add(vtimezone)

        assert {tzid: len(found) for tzid, found in seen.items() if len(found) > 1} == {}


def test_each_vtimezone_spans_every_year_the_catalog_uses_its_zone(feed_sets: FeedSets) -> None:
    feeds = feed_sets["edge"]
    years: dict[str, set[int]] = {}
    for entry in feeds["feeds/all.ics"].project.entries("feeds/all.ics"):
        if entry.zone is not None:
            years.setdefault(entry.zone, set()).add(entry.start.year)
    moscow_2011 = feeds["events/europe-moscow-20110328-12.ics"]
    (vtimezone,) = icalendar.Calendar.from_ical(moscow_2011.body).timezones
    reader = vtimezone.to_tz(lookup_tzid=False)
    moscow = zoneinfo.ZoneInfo("Europe/Moscow")

    wrong = []
    for year in sorted(years["Europe/Moscow"]):
        for month in (1, 7):
            wall = datetime(year, month, 15, 12)
            if wall.replace(tzinfo=reader).utcoffset() != wall.replace(tzinfo=moscow).utcoffset():
                wrong.append(f"{wall}")
    assert sorted(years["Europe/Moscow"]) == [2010, 2011, 2014, 2026]
    assert wrong == []


def test_stamp_block_adds_sequence_and_utc_stamps() -> None:
    data = b"BEGIN:VEVENT\r\nUID:a@example.org\r\nEND:VEVENT\r\n"

    stamped = stamp_block(data, 3, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))

    assert stamped == (
        b"BEGIN:VEVENT\r\nUID:a@example.org\r\nSEQUENCE:3\r\n"
        b"DTSTAMP:20261025T013000Z\r\nLAST-MODIFIED:20261025T013000Z\r\nEND:VEVENT\r\n"
    )


# --- helpers -----------------------------------------------------------------------------


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_shown(part) for part in value) + ")"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return str(value)
