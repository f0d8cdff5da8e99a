"""Classic Outlook's reading of a feed: one STANDARD and one DAYLIGHT rule per zone, every year.

A test oracle written from Microsoft's own account of what Outlook does on import, on the
feed's bytes alone (``lines``), sharing nothing with ``service``:

* [MS-STANOICAL] 2.2.47 (RFC 5545 3.6.5): "On import, Outlook attempts to approximate
  VTIMEZONE components to a VTIMEZONE with one annually-recurring standard-to-Daylight Saving
  transition date, and one annually-recurring Daylight Saving-to-standard transition date."
  Only TZID, and DTSTART, RRULE, TZOFFSETFROM and TZOFFSETTO of STANDARD and DAYLIGHT are
  used. "If a time zone cannot be approximated or parsed, it is ignored."
* [MS-OXCICAL] 2.1.3.1.1.19.3 (DAYLIGHT, and 19.2 for STANDARD): "If more than one DAYLIGHT
  component is defined in the VTIMEZONE, only the DAYLIGHT component with the largest DTSTART
  SHOULD be parsed"; the alternatives it allows (the first one, or refusing the file) are
  not Outlook's. Without DAYLIGHT there is no daylight saving time at all.
* [MS-OXCICAL] 2.1.3.1.1.19.2.5 and 19.3.5 (TZOFFSETTO): the standard bias comes from the
  STANDARD's TZOFFSETTO, the daylight bias from the DAYLIGHT's; TZOFFSETFROM sets nothing.
* [MS-OXCICAL] 2.1.3.1.1.19.2.2 (RRULE): "Time zone recurrences MUST be of frequency YEARLY
  and MUST specify either a BYDAY or a BYMONTHDAY, but not both"; a BYDAY "MUST specify a
  single occurrence of a single day of the week (e.g. BYDAY=2MO, but not BYDAY=MO or
  BYDAY=1MO,3MO)", a BYMONTHDAY a single day; the month is BYMONTH, or DTSTART's. It becomes a
  Windows SYSTEMTIME with no year (wYear 0): the rule holds in every year, UNTIL or not.
* [MS-OXCICAL] 2.1.3.1.1.19.2.1 (DTSTART): the onset's time of day is DTSTART's; without an
  RRULE, the onset is DTSTART's month, its weekday and "the occurrence of the day of week in
  the month", again every year.
* Windows' TIME_ZONE_INFORMATION, which those fields fill: week 5 is the last such weekday
  of the month; the daylight date is local standard time, the standard date local daylight
  time (the wall time before each change, as a VTIMEZONE's DTSTART is).

So :func:`read_outlook` reads every DATE-TIME with a TZID (DTSTART, DTEND, RECURRENCE-ID,
EXDATE, ...) through that one rule; a value in UTC is UTC, a DATE a date. It refuses a TZID
whose VTIMEZONE Outlook would ignore and a wall time that the one rule skips or repeats
(what Outlook makes of those is not documented): a feed must not rest on either.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from . import lines
from .readers import Read, Reading

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_OFFSET = re.compile(r"([+-])(\d\d)(\d\d)(\d\d)?")
_TIMES = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE", "DUE")


class Unreadable(AssertionError):
    """Outlook would ignore this VTIMEZONE, or cannot place this wall time."""


@dataclass(frozen=True)
class Change:
    """One yearly onset: month, then weekday and week (5: the last) or a fixed day; time."""

    month: int
    weekday: int | None
    week: int | None
    day: int | None
    at: time
    offset: timedelta  # TZOFFSETTO

    def in_year(self, year: int) -> datetime:
        """Return this year's onset as wall time before the change."""
        if self.day is not None:
            return datetime.combine(date(year, self.month, self.day), self.at)
        assert self.weekday is not None and self.week is not None
        days = [
            day
            for day in range(1, calendar.monthrange(year, self.month)[1] + 1)
            if date(year, self.month, day).weekday() == self.weekday
        ]
        chosen = days[-1] if self.week == 5 else days[self.week - 1]
        return datetime.combine(date(year, self.month, chosen), self.at)


@dataclass(frozen=True)
class OneRule:
    """What Outlook keeps of a VTIMEZONE: a standard offset and at most one yearly DST."""

    tzid: str
    standard: Change
    daylight: Change | None

    def utc(self, wall: datetime) -> datetime:
        """Return the instant Outlook takes ``wall`` (naive) to be."""
        return (wall - self.offset(wall)).replace(tzinfo=UTC)

    def offset(self, wall: datetime) -> timedelta:
        """Return the offset Outlook gives ``wall``; raise for a skipped or repeated one."""
        if self.daylight is None:
            return self.standard.offset
        start, end = self.daylight.in_year(wall.year), self.standard.in_year(wall.year)
        shift = self.daylight.offset - self.standard.offset
        # The wall times each change skips or repeats, as wall times before it.
        for onset, step in ((start, shift), (end, -shift)):
            low, high = sorted((onset, onset + step))
            if low <= wall < high:
                raise Unreadable(f"{self.tzid}: {wall} is skipped or repeated by the one rule")
        if start < end:
            in_daylight = start <= wall < end
        else:
            in_daylight = not end <= wall < start
        return self.daylight.offset if in_daylight else self.standard.offset


def rules(body: bytes) -> dict[str, OneRule | Unreadable]:
    """Return, per TZID of the feed, Outlook's one rule, or why Outlook ignores the zone."""
    found: dict[str, OneRule | Unreadable] = {}
    for vtimezone in _components(body):
        tzid = next(line.value for line in vtimezone[0] if line.name == "TZID")
        try:
            found[tzid] = _one_rule(tzid, vtimezone[1])
        except Unreadable as err:
            found[tzid] = err
    return found


def read_outlook(body: bytes) -> Reading:
    """Read every VEVENT's DTSTART and DTEND as classic Outlook would (see the module)."""
    zones = rules(body)
    reading: Reading = {}
    for block in lines.blocks(body):
        values = {line.name: line for line in block}
        for line in block:
            if line.name in _TIMES:
                _value(line, zones)  # every zoned time must read, not just these two
        uid = values["UID"].value
        assert uid not in reading, f"UID {uid} appears twice"
        start, end = (
            _value(values[name], zones) if name in values else None for name in ("DTSTART", "DTEND")
        )
        reading[uid] = Read(start, end)
    return reading


def _value(line: lines.Line, zones: dict[str, OneRule | Unreadable]) -> date | datetime:
    text = line.value.split(",")[0]
    if line.params.get("VALUE") == "DATE":
        return datetime.strptime(text, "%Y%m%d").date()
    moment = datetime.strptime(text.removesuffix("Z"), "%Y%m%dT%H%M%S")
    if text.endswith("Z"):
        return moment.replace(tzinfo=UTC)
    tzid = line.params.get("TZID")
    assert tzid is not None, f"{line.name}:{text} is a floating time"
    rule = zones.get(tzid)
    if rule is None:
        raise Unreadable(f"TZID={tzid} has no VTIMEZONE")
    if isinstance(rule, Unreadable):
        raise Unreadable(f"{line.name};TZID={tzid}: Outlook ignores that VTIMEZONE: {rule}")
    return rule.utc(moment)


def _components(body: bytes) -> list[tuple[list[lines.Line], list[tuple[str, list[lines.Line]]]]]:
    """Return each VTIMEZONE: its own lines, and each (kind, lines) sub-component."""
    found: list[tuple[list[lines.Line], list[tuple[str, list[lines.Line]]]]] = []
    current: list[lines.Line] | None = None
    for line in lines.content_lines(body):
        if line.name == "BEGIN" and line.value == "VTIMEZONE":
            found.append(([], []))
        elif line.name == "BEGIN" and line.value in ("STANDARD", "DAYLIGHT") and found:
            current = []
            found[-1][1].append((line.value, current))
        elif line.name == "END" and line.value in ("STANDARD", "DAYLIGHT"):
            current = None
        elif current is not None:
            current.append(line)
        elif line.component == "VTIMEZONE":
            found[-1][0].append(line)
    return found


def _one_rule(tzid: str, observances: list[tuple[str, list[lines.Line]]]) -> OneRule:
    latest: dict[str, dict[str, str]] = {}
    for kind, observance in observances:
        values = {line.name: line.value for line in observance}
        if kind not in latest or values["DTSTART"] > latest[kind]["DTSTART"]:
            latest[kind] = values  # DTSTARTs are YYYYMMDDTHHMMSS: text order is time order
    if "STANDARD" not in latest:
        raise Unreadable(f"{tzid}: no STANDARD to take the standard offset from")
    daylight = _change(tzid, latest["DAYLIGHT"]) if "DAYLIGHT" in latest else None
    return OneRule(tzid, _change(tzid, latest["STANDARD"]), daylight)


def _change(tzid: str, values: dict[str, str]) -> Change:
    start = datetime.strptime(values["DTSTART"], "%Y%m%dT%H%M%S")
    offset = _offset(values["TZOFFSETTO"])
    if "RRULE" not in values:
        week = (start.day - 1) // 7 + 1
        return Change(start.month, start.weekday(), week, None, start.time(), offset)
    parts = dict(part.split("=", 1) for part in values["RRULE"].split(";"))
    by_day, by_month_day = parts.get("BYDAY"), parts.get("BYMONTHDAY")
    month = int(parts.get("BYMONTH", start.month))
    if (
        parts.get("FREQ") != "YEARLY"
        or "," in parts.get("BYMONTH", "")
        or (by_day is None) == (by_month_day is None)
    ):
        raise Unreadable(f"{tzid}: RRULE:{values['RRULE']} is not one yearly onset")
    if by_month_day is not None:
        if not by_month_day.isdigit():
            raise Unreadable(f"{tzid}: RRULE:{values['RRULE']} has more than one month day")
        return Change(month, None, None, int(by_month_day), start.time(), offset)
    assert by_day is not None
    match = re.fullmatch(r"(-1|[1-4])(MO|TU|WE|TH|FR|SA|SU)", by_day)
    if match is None:
        raise Unreadable(f"{tzid}: RRULE:{values['RRULE']} is not one nth weekday")
    week = 5 if match[1] == "-1" else int(match[1])
    return Change(month, _WEEKDAYS.index(match[2]), week, None, start.time(), offset)


def _offset(text: str) -> timedelta:
    match = _OFFSET.fullmatch(text)
    assert match, f"TZOFFSETTO:{text} is not a UTC offset"
    sign = -1 if match[1] == "-" else 1
    hours, minutes, seconds = int(match[2]), int(match[3]), int(match[4] or 0)
    return sign * timedelta(hours=hours, minutes=minutes, seconds=seconds)
