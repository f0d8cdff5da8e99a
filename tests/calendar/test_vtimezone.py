"""RRULE-based VTIMEZONEs, read back by two independent parsers, must agree with zoneinfo.

Readers:

* icalendar: ``Calendar.from_ical`` of the serialized calendar, then
  ``Timezone.to_tz(lookup_tzid=False)``, which evaluates the VTIMEZONE with
  ``dateutil.tz.tzical``. ``lookup_tzid=False`` matters: for an IANA TZID icalendar
  would otherwise return zoneinfo's own zone and never read our sub-components.
* ical (allenporter): ``IcsCalendarStream.calendar_from_ics``, then ``IcsTimezoneInfo``
  over the parsed ``Timezone`` model. Its calendar also swaps IANA TZIDs for the system
  zone, hence the model. ical 14.3 cannot evaluate two RFC 5545 constructs, so
  ``ical_tzinfo`` adapts the parsed model without changing what it means (see there).

The oracle is zoneinfo itself: its transitions, found here by sampling independently of
the module, give the instants to compare (each transition -1 s, at it, +1 s, four
instants a year, and the span's first and last local second).

Ambiguous and nonexistent wall times (what we found):

* A wall time in a repeated hour, read as an ICS DATE-TIME (fold=0), takes the first
  occurrence in both readers, as RFC 5545 section 3.3.5 and zoneinfo fold=0 do. dateutil
  also honours fold=1 (the second occurrence); ical ignores fold and keeps the first.
* A wall time skipped by a spring-forward gap gets the offset after the gap from both
  readers (they place the onset at DTSTART, which RFC 5545 fixes as the wall time before
  the change), while RFC 5545 and zoneinfo fold=0 use the offset before the gap. No
  VTIMEZONE can change that without moving the transition for every other client.
"""

from __future__ import annotations

import calendar
import os
import subprocess
import sys
import zoneinfo
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream
from ical.timezone import IcsTimezoneInfo
from ical.types import Recur

from service.calendar.vtimezone import build_vtimezone
from service.calendar.zones import zone as catalog_zone

ALL_ZONES = sorted(zoneinfo.available_timezones())
FULL_SPAN = (1970, 2037)

# Zones with unusual rules: 30/45-minute offsets or DST, negative DST, Ramadan breaks,
# skipped days, "Sun>=9"-style and Persian-calendar rules, offsets with seconds.
SAMPLE_ZONES = [
    "Africa/Cairo",
    "Africa/Casablanca",
    "Africa/Monrovia",
    "Africa/Windhoek",
    "America/Asuncion",
    "America/Godthab",
    "America/Havana",
    "America/Los_Angeles",
    "America/New_York",
    "America/Nuuk",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Scoresbysund",
    "America/St_Johns",
    "Antarctica/Troll",
    "Asia/Amman",
    "Asia/Gaza",
    "Asia/Jerusalem",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Asia/Pyongyang",
    "Asia/Tehran",
    "Asia/Tokyo",
    "Australia/Eucla",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "Etc/GMT+5",
    "Europe/Brussels",
    "Europe/Dublin",
    "Europe/Istanbul",
    "Europe/Lisbon",
    "Europe/London",
    "Europe/Moscow",
    "Europe/Stockholm",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Pacific/Fiji",
    "Pacific/Kiritimati",
    "Pacific/Norfolk",
    "UTC",
]
SHORT_SPANS = [(1970, 1970), (1995, 1997), (2011, 2012), (2020, 2021), (2024, 2024), (2037, 2037)]

_EPOCH = datetime(1970, 1, 1)
_STEP = 2 * 86_400  # every state since 1970 has lasted almost a week or more
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

BRUSSELS_2020_2021 = (
    b"BEGIN:VTIMEZONE\r\n"
    b"TZID:Europe/Brussels\r\n"
    b"X-LIC-LOCATION:Europe/Brussels\r\n"
    b"BEGIN:STANDARD\r\n"
    b"DTSTART:20191027T030000\r\n"
    b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
    b"TZNAME:CET\r\n"
    b"TZOFFSETFROM:+0200\r\n"
    b"TZOFFSETTO:+0100\r\n"
    b"END:STANDARD\r\n"
    b"BEGIN:DAYLIGHT\r\n"
    b"DTSTART:20200329T020000\r\n"
    b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n"
    b"TZNAME:CEST\r\n"
    b"TZOFFSETFROM:+0100\r\n"
    b"TZOFFSETTO:+0200\r\n"
    b"END:DAYLIGHT\r\n"
    b"END:VTIMEZONE\r\n"
)


# --- building and reading -------------------------------------------------------------


@cache
def feed(zone: str, first_year: int, last_year: int) -> bytes:
    """Return a minimal calendar holding just the zone's VTIMEZONE, as served.

    The VTIMEZONE is the one feeds carry (``zones.zone``, which keeps what it built for the
    process, so that the Outlook tests of tests/calendar reuse it).
    """
    vtimezone = catalog_zone(zone, first_year, last_year).vtimezone
    return (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calfeed//tests//EN\r\n"
        + vtimezone
        + b"END:VCALENDAR\r\n"
    )


def parsed_vtimezone(data: bytes) -> icalendar.Timezone:
    """Return the one VTIMEZONE that icalendar parses from ``data``."""
    (vtimezone,) = icalendar.Calendar.from_ical(data).timezones
    return vtimezone


def icalendar_tzinfo(data: bytes) -> tzinfo:
    """Return icalendar's reading of the VTIMEZONE in ``data`` (dateutil's tzical)."""
    zone: tzinfo = parsed_vtimezone(data).to_tz(lookup_tzid=False)
    return zone


def ical_tzinfo(data: bytes) -> IcsTimezoneInfo:
    """Return ical's reading of the VTIMEZONE in ``data``, adapted to what ical evaluates.

    ical 14.3 hands each sub-component to dateutil.rrule, which (dateutil issue #1006)
    rejects a naive DTSTART with the UTC UNTIL that RFC 5545 requires in VTIMEZONEs, and
    expands a sub-component without RRULE or RDATE to nothing, although its DTSTART is
    an onset. So UNTIL is made floating (the module writes the later of the UTC and the
    local reading, so the last onset stays in either way) and a lone DTSTART gets
    COUNT=1, which RFC 5545 defines as exactly that onset.
    """
    (timezone,) = IcsCalendarStream.calendar_from_ics(data.decode()).timezones
    for observance in timezone.standard + timezone.daylight:
        if observance.rrule is None:
            observance.rrule = Recur.from_rrule("FREQ=YEARLY;COUNT=1")
        elif isinstance(observance.rrule.until, datetime):
            observance.rrule.until = observance.rrule.until.replace(tzinfo=None)
    return IcsTimezoneInfo.from_timezone(timezone)


# --- the oracle -------------------------------------------------------------------------


def in_utc(moment: object) -> datetime:
    """Return ``moment``, which must be a date-time, in UTC."""
    assert isinstance(moment, datetime), moment
    return moment.astimezone(UTC)


def timestamp(moment: datetime) -> int:
    """Return a naive UTC datetime as seconds since the epoch."""
    return (moment - _EPOCH) // timedelta(seconds=1)


@cache
def zoneinfo_transitions(zone: str, first_year: int, last_year: int) -> tuple[int, ...]:
    """Return the instants at which zoneinfo changes offset or DST around the span."""
    tz = zoneinfo.ZoneInfo(zone)

    def state(at: int) -> tuple[timedelta | None, timedelta | None]:
        local = datetime.fromtimestamp(at, tz)
        return local.utcoffset(), local.dst()

    at = timestamp(datetime(first_year, 1, 1)) - _STEP
    stop = timestamp(datetime(last_year + 1, 1, 1)) + _STEP
    current = state(at)
    found = []
    while at < stop:
        if state(at + _STEP) == current:
            at += _STEP
            continue
        low, high = at, at + _STEP
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if state(middle) == current else (low, middle)
        found.append(high)
        at, current = high, state(high)
    return tuple(found)


@cache
def sample_instants(zone: str, first_year: int, last_year: int) -> tuple[datetime, ...]:
    """Return zoneinfo's local times (with fold) for instants worth checking in the span."""
    tz = zoneinfo.ZoneInfo(zone)
    instants: set[int] = set()
    for at in zoneinfo_transitions(zone, first_year, last_year):
        instants.update((at - 1, at, at + 1))
    for year in range(first_year, last_year + 1):
        instants.update(timestamp(datetime(year, month, 15, 12)) for month in (1, 4, 7, 10))
    edges = (datetime(first_year, 1, 1), datetime(last_year, 12, 31, 23, 59, 59))
    instants.update(
        timestamp(edge.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)) for edge in edges
    )
    span = range(first_year, last_year + 1)
    local_times = (datetime.fromtimestamp(at, tz) for at in sorted(instants))
    return tuple(local for local in local_times if local.year in span)


def wall(local: datetime, fold: int = 0) -> datetime:
    """Return the naive wall time of ``local`` as an ICS DATE-TIME carries it."""
    return local.replace(tzinfo=None, fold=fold)


def mismatches(
    zone: str, span: tuple[int, int], read: Callable[[datetime], timedelta | None]
) -> list[str]:
    """Return the sampled wall times (fold=0) that ``read`` offsets unlike zoneinfo."""
    tz = zoneinfo.ZoneInfo(zone)
    found = []
    for local in sample_instants(zone, *span):
        expected = wall(local).replace(tzinfo=tz).utcoffset()
        got = read(wall(local))
        if got != expected:
            found.append(f"{wall(local)}: expected {expected}, read {got}")
    return found


def fold_mismatches(zone: str, span: tuple[int, int], reader: tzinfo) -> list[str]:
    """Return the sampled second occurrences of wall times that ``reader`` misreads.

    Other instants have fold=0 and are what ``mismatches`` checks already.
    """
    found = []
    for local in sample_instants(zone, *span):
        if not local.fold:
            continue
        got = wall(local, fold=1).replace(tzinfo=reader).utcoffset()
        if got != local.utcoffset():
            found.append(f"{wall(local)} (fold=1): expected {local.utcoffset()}, read {got}")
    return found


def observances(data: bytes) -> Iterator[icalendar.Component]:
    """Yield the STANDARD and DAYLIGHT sub-components icalendar parses from ``data``."""
    yield from parsed_vtimezone(data).subcomponents


def rule_misfits(observance: icalendar.Component) -> list[str]:
    """Return how the DTSTART of ``observance`` fails its RRULE's BYxxx parts."""
    if "RRULE" not in observance:
        return []
    assert isinstance(observance, icalendar.TimezoneStandard | icalendar.TimezoneDaylight)
    start = observance.DTSTART
    rule = observance["RRULE"]
    assert isinstance(rule, icalendar.vRecur), rule
    found = []
    if [int(month) for month in rule.get("BYMONTH", [])] != [start.month]:
        found.append(f"BYMONTH {rule.get('BYMONTH')}")
    if "BYMONTHDAY" in rule and start.day not in rule["BYMONTHDAY"]:
        found.append(f"BYMONTHDAY {rule['BYMONTHDAY']}")
    for byday in rule.get("BYDAY", []):
        week, weekday = byday[:-2], byday[-2:]
        month_length = calendar.monthrange(start.year, start.month)[1]
        if weekday != _WEEKDAYS[start.weekday()]:
            found.append(f"BYDAY {byday}: weekday")
        elif week == "-1" and start.day + 7 <= month_length:
            found.append(f"BYDAY {byday}: not the last")
        elif week not in ("", "-1") and (start.day - 1) // 7 + 1 != int(week):
            found.append(f"BYDAY {byday}: not week {week}")
    return [f"{start} {problem}" for problem in found]


def changed_wall_times(
    zone: str, span: tuple[int, int]
) -> Iterator[tuple[datetime, timedelta, timedelta]]:
    """Yield (wall time, offset before, offset after) inside each repeated or skipped hour.

    For each transition: the first, a middle and the last second of the wall times that
    it repeats (offset falls) or skips (offset rises).
    """
    tz = zoneinfo.ZoneInfo(zone)
    for at in zoneinfo_transitions(zone, *span):
        before = datetime.fromtimestamp(at - 1, tz).utcoffset()
        after = datetime.fromtimestamp(at, tz).utcoffset()
        assert before is not None and after is not None
        if before == after:
            continue
        moment = _EPOCH + timedelta(seconds=at)
        low, high = sorted((moment + before, moment + after))
        if low.year < span[0] or high.year > span[1]:
            continue
        for inside in (low, low + (high - low) / 2, high - timedelta(seconds=1)):
            yield inside, before, after


# --- all zones, icalendar ---------------------------------------------------------------


@pytest.mark.parametrize("zone", ALL_ZONES)
def test_every_zone_reads_back_as_zoneinfo_through_icalendar(zone: str) -> None:
    data = feed(zone, *FULL_SPAN)
    reader = icalendar_tzinfo(data)

    assert b"RDATE" not in data
    assert (
        mismatches(zone, FULL_SPAN, lambda moment: moment.replace(tzinfo=reader).utcoffset()) == []
    )
    assert fold_mismatches(zone, FULL_SPAN, reader) == []


@pytest.mark.parametrize("zone", ALL_ZONES)
def test_every_dtstart_fits_its_rrule(zone: str) -> None:
    misfits = [
        misfit for sub in observances(feed(zone, *FULL_SPAN)) for misfit in rule_misfits(sub)
    ]

    assert misfits == []


# --- sample zones, ical and short spans -------------------------------------------------


@pytest.mark.parametrize("zone", SAMPLE_ZONES)
def test_sample_zones_read_back_as_zoneinfo_through_ical(zone: str) -> None:
    reader = ical_tzinfo(feed(zone, *FULL_SPAN))

    assert mismatches(zone, FULL_SPAN, reader.utcoffset) == []


@pytest.mark.parametrize("span", SHORT_SPANS, ids=lambda span: f"{span[0]}-{span[1]}")
@pytest.mark.parametrize("zone", SAMPLE_ZONES)
def test_short_spans_read_back_as_zoneinfo(zone: str, span: tuple[int, int]) -> None:
    data = feed(zone, *span)
    dateutil_reader = icalendar_tzinfo(data)
    ical_reader = ical_tzinfo(data)

    assert b"RDATE" not in data
    assert [misfit for sub in observances(data) for misfit in rule_misfits(sub)] == []
    assert (
        mismatches(zone, span, lambda moment: moment.replace(tzinfo=dateutil_reader).utcoffset())
        == []
    )
    assert fold_mismatches(zone, span, dateutil_reader) == []
    assert mismatches(zone, span, ical_reader.utcoffset) == []


# --- ambiguous and nonexistent wall times -----------------------------------------------


@pytest.mark.parametrize("zone", SAMPLE_ZONES)
def test_repeated_wall_times_take_the_first_occurrence(zone: str) -> None:
    data = feed(zone, *FULL_SPAN)
    dateutil_reader = icalendar_tzinfo(data)
    ical_reader = ical_tzinfo(data)
    tz = zoneinfo.ZoneInfo(zone)
    wrong = []
    for moment, first, second in changed_wall_times(zone, FULL_SPAN):
        if second > first:
            continue  # a gap, not a repeat
        readings = {
            "zoneinfo fold=0": moment.replace(tzinfo=tz).utcoffset(),
            "zoneinfo fold=1": moment.replace(tzinfo=tz, fold=1).utcoffset(),
            "dateutil fold=0": moment.replace(tzinfo=dateutil_reader).utcoffset(),
            "dateutil fold=1": moment.replace(tzinfo=dateutil_reader, fold=1).utcoffset(),
            "ical fold=0": ical_reader.utcoffset(moment),
            "ical fold=1": ical_reader.utcoffset(moment.replace(fold=1)),
        }
        expected = {
            "zoneinfo fold=0": first,
            "zoneinfo fold=1": second,
            "dateutil fold=0": first,
            "dateutil fold=1": second,
            "ical fold=0": first,
            "ical fold=1": first,  # ical ignores fold: an ICS wall time cannot carry it
        }
        if readings != expected:
            wrong.append(f"{moment}: {readings}")

    assert wrong == []


@pytest.mark.parametrize("zone", SAMPLE_ZONES)
def test_skipped_wall_times_take_the_offset_after_the_gap(zone: str) -> None:
    data = feed(zone, *FULL_SPAN)
    dateutil_reader = icalendar_tzinfo(data)
    ical_reader = ical_tzinfo(data)
    tz = zoneinfo.ZoneInfo(zone)
    wrong = []
    for moment, before, after in changed_wall_times(zone, FULL_SPAN):
        if after < before:
            continue  # a repeat, not a gap
        readings = (
            moment.replace(tzinfo=tz).utcoffset(),
            moment.replace(tzinfo=dateutil_reader).utcoffset(),
            ical_reader.utcoffset(moment),
        )
        # RFC 5545 and zoneinfo fold=0 use the offset before the gap; both readers
        # switch at DTSTART and so use the offset after it.
        if readings != (before, after, after):
            wrong.append(f"{moment}: {readings}")

    assert wrong == []


def test_events_in_a_feed_resolve_through_the_vtimezone() -> None:
    # An IANA TZID would make both libraries use their own zone data; a private TZID
    # makes them read the VTIMEZONE, as a client without the IANA database would.
    vtimezone = build_vtimezone("Europe/Brussels", 2020, 2021).to_ical()
    vtimezone = vtimezone.replace(b"Europe/Brussels", b"Calfeed-Test/Brussels")
    walls_and_utc = {
        "20200115T120000": datetime(2020, 1, 15, 11, tzinfo=UTC),
        "20200715T120000": datetime(2020, 7, 15, 10, tzinfo=UTC),
        "20201025T023000": datetime(2020, 10, 25, 0, 30, tzinfo=UTC),  # first occurrence
        "20211031T030000": datetime(2021, 10, 31, 2, tzinfo=UTC),
        "20211231T235959": datetime(2021, 12, 31, 22, 59, 59, tzinfo=UTC),
    }
    events = b"".join(
        f"BEGIN:VEVENT\r\nUID:{index}@calfeed.test\r\nDTSTAMP:20200101T000000Z\r\n"
        f"DTSTART;TZID=Calfeed-Test/Brussels:{wall_time}\r\nSUMMARY:Event\r\n"
        "END:VEVENT\r\n".encode()
        for index, wall_time in enumerate(walls_and_utc)
    )
    data = feed("UTC", 2020, 2020).replace(b"END:VCALENDAR", vtimezone + events + b"END:VCALENDAR")

    by_icalendar = [in_utc(event.DTSTART) for event in icalendar.Calendar.from_ical(data).events]
    by_ical = [
        in_utc(event.dtstart) for event in IcsCalendarStream.calendar_from_ics(data.decode()).events
    ]

    assert by_icalendar == list(walls_and_utc.values())
    assert by_ical == list(walls_and_utc.values())


# --- structure --------------------------------------------------------------------------


def test_brussels_2020_2021_is_one_rule_each_for_standard_and_daylight() -> None:
    assert build_vtimezone("Europe/Brussels", 2020, 2021).to_ical() == BRUSSELS_2020_2021


def test_lord_howe_keeps_its_half_hour_daylight_saving() -> None:
    lines = build_vtimezone("Australia/Lord_Howe", 2020, 2021).to_ical().splitlines()

    assert lines[3:17] == [
        b"BEGIN:DAYLIGHT",
        b"DTSTART:20191006T020000",
        b"RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=10",
        b"TZNAME:+11",
        b"TZOFFSETFROM:+1030",
        b"TZOFFSETTO:+1100",
        b"END:DAYLIGHT",
        b"BEGIN:STANDARD",
        b"DTSTART:20200405T020000",
        b"RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=4",
        b"TZNAME:+1030",
        b"TZOFFSETFROM:+1100",
        b"TZOFFSETTO:+1030",
        b"END:STANDARD",
    ]


def test_dublin_summer_time_is_daylight_despite_negative_dst_in_tzdata() -> None:
    vtimezone = build_vtimezone("Europe/Dublin", 2020, 2021)
    (standard,), (daylight,) = vtimezone.standard, vtimezone.daylight

    assert (standard.TZOFFSETTO, standard["TZNAME"]) == (timedelta(0), "GMT")
    assert (daylight.TZOFFSETTO, daylight["TZNAME"]) == (timedelta(hours=1), "IST")


@pytest.mark.parametrize(
    ("zone", "offset"),
    [
        ("Asia/Tokyo", b"+0900"),
        ("UTC", b"+0000"),
        ("Etc/GMT+5", b"-0500"),
        ("Asia/Kolkata", b"+0530"),
        ("Asia/Kathmandu", b"+0545"),
    ],
)
def test_zone_without_transitions_is_one_standard_from_1970(zone: str, offset: bytes) -> None:
    lines = build_vtimezone(zone, 2020, 2021).to_ical().splitlines()

    assert lines[0:3] == [
        b"BEGIN:VTIMEZONE",
        b"TZID:" + zone.encode(),
        b"X-LIC-LOCATION:" + zone.encode(),
    ]
    assert [line for line in lines[3:] if not line.startswith(b"TZNAME:")] == [
        b"BEGIN:STANDARD",
        b"DTSTART:19700101T000000",
        b"TZOFFSETFROM:" + offset,
        b"TZOFFSETTO:" + offset,
        b"END:STANDARD",
        b"END:VTIMEZONE",
    ]


def test_ended_rules_stop_with_a_utc_until() -> None:
    new_york = build_vtimezone("America/New_York", 2000, 2010).to_ical()
    brussels = build_vtimezone("Europe/Brussels", 1990, 2000).to_ical()

    # West of UTC, UNTIL is the last onset's exact instant (02:00 EDT).
    assert b"RRULE:FREQ=YEARLY;UNTIL=20061029T060000Z;BYDAY=-1SU;BYMONTH=10\r\n" in new_york
    assert b"RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\n" in new_york
    # East of UTC it is the onset's wall time (03:00 CEST, 01:00Z), so that dateutil,
    # which compares UNTIL with wall times, keeps the 1995 onset too.
    assert b"RRULE:FREQ=YEARLY;UNTIL=19950924T030000Z;BYDAY=-1SU;BYMONTH=9\r\n" in brussels


def test_output_is_byte_identical_across_runs_and_hash_seeds() -> None:
    zones = ["America/Santiago", "Africa/Casablanca", "Europe/Brussels"]
    script = (
        "import sys; from service.calendar.vtimezone import build_vtimezone; "
        f"parts = [build_vtimezone(zone, 1970, 2037).to_ical() for zone in {zones!r}]; "
        "sys.stdout.buffer.write(b''.join(parts))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    here = b"".join(build_vtimezone(zone, 1970, 2037).to_ical() for zone in zones)

    assert runs == [here, here]
    assert b"".join(build_vtimezone(zone, 1970, 2037).to_ical() for zone in zones) == here


def test_reversed_span_is_rejected() -> None:
    with pytest.raises(ValueError, match="after"):
        build_vtimezone("Europe/Brussels", 2022, 2021)
