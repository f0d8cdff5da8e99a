"""How classic Outlook reads a VTIMEZONE: one STANDARD and one DAYLIGHT rule for every year.

Outlook cannot hold a zone's history. On import it approximates each VTIMEZONE by one
yearly onset of daylight time and one of standard time ([MS-STANOICAL] 2.2.47), read from
the DAYLIGHT and the STANDARD sub-component with the largest DTSTART ([MS-OXCICAL]
2.1.3.1.1.19.2 and .3), and applies them to every year; UNTIL plays no part. Each onset is
its RRULE's BYMONTH with one nth (or last) weekday or one month day, at DTSTART's time of
day; a sub-component without RRULE recurs on DTSTART's month, weekday and week of the month
(2.1.3.1.1.19.2.1). The offsets are the two TZOFFSETTOs. Without DAYLIGHT the standard
offset holds all year; a VTIMEZONE it cannot approximate this way, it ignores.

So Moscow's VTIMEZONE for 2010-2026 reads, in Outlook, as if Moscow still had its 2010
daylight saving time in 2026. :func:`outlook_rule` gives that reading, so that an instant it
gets wrong can be written in UTC instead (see ``zones``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import icalendar

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_LAST = 5  # Windows' "fifth" week: the last such weekday of the month


@dataclass(frozen=True, slots=True)
class _Onset:
    """A yearly change to ``offset``: in ``month``, on a weekday of a week or on a day."""

    month: int
    weekday: int
    week: int  # 1-4, or _LAST; 0 with a fixed ``day``
    day: int
    at: time  # wall time, in the offset in force before the change
    offset: timedelta  # TZOFFSETTO

    def wall(self, year: int) -> datetime:
        """Return the onset in ``year``, as wall time before the change."""
        if self.week == 0:
            return datetime.combine(datetime(year, self.month, self.day), self.at)
        first_weekday, length = calendar.monthrange(year, self.month)
        day = 1 + (self.weekday - first_weekday) % 7 + 7 * (self.week - 1)
        if day > length:
            day -= 7
        return datetime.combine(datetime(year, self.month, day), self.at)


@dataclass(frozen=True, slots=True)
class OutlookRule:
    """The one rule Outlook keeps of a VTIMEZONE."""

    standard: _Onset
    daylight: _Onset | None

    def offset(self, wall: datetime) -> timedelta | None:
        """Return the UTC offset Outlook gives ``wall``; None if its rule skips or repeats it."""
        daylight = self.daylight
        if daylight is None:
            return self.standard.offset
        into, back = daylight.wall(wall.year), self.standard.wall(wall.year)
        jump = daylight.offset - self.standard.offset
        # Around each change, the wall times skipped or repeated: what Outlook makes of
        # them is not specified, so no instant should rest on them.
        for change in (into, back - jump):
            if min(change, change + jump) <= wall < max(change, change + jump):
                return None
        in_daylight = into <= wall < back if into < back else not back <= wall < into
        return daylight.offset if in_daylight else self.standard.offset


def outlook_rule(vtimezone: icalendar.Timezone) -> OutlookRule | None:
    """Return the rule Outlook keeps of ``vtimezone``, or None if it ignores the VTIMEZONE."""
    standard = _latest(vtimezone.standard)
    daylight = _latest(vtimezone.daylight)
    if standard is None:
        return None
    onsets = [_onset(standard), _onset(daylight) if daylight is not None else None]
    if onsets[0] is None or (daylight is not None and onsets[1] is None):
        return None
    return OutlookRule(onsets[0], onsets[1])


def _latest(observances: list[Any]) -> Any:
    return max(observances, key=lambda sub: sub.DTSTART, default=None)


def _onset(observance: Any) -> _Onset | None:
    """Return the yearly onset Outlook makes of one sub-component, or None if it cannot."""
    start: datetime = observance.DTSTART
    offset: timedelta = observance.TZOFFSETTO
    rule = observance.get("RRULE")
    if rule is None:
        week = (start.day - 1) // 7 + 1  # the weekday's occurrence; a fifth is the last
        return _Onset(start.month, start.weekday(), week, 0, start.time(), offset)
    months, days, month_days = (_parts(rule, key) for key in ("BYMONTH", "BYDAY", "BYMONTHDAY"))
    if _parts(rule, "FREQ") != ["YEARLY"] or len(months) > 1 or bool(days) == bool(month_days):
        return None
    month = int(months[0]) if months else start.month
    if month_days:
        if len(month_days) > 1:
            return None
        return _Onset(month, 0, 0, int(month_days[0]), start.time(), offset)
    day = str(days[0]) if len(days) == 1 else ""
    if day[-2:] not in _WEEKDAYS or day[:-2] not in {"1", "2", "3", "4", "-1"}:
        return None
    week = _LAST if day[:-2] == "-1" else int(day[:-2])
    return _Onset(month, _WEEKDAYS.index(day[-2:]), week, 0, start.time(), offset)


def _parts(rule: Any, key: str) -> list[Any]:
    """Return the values of one RRULE part as a list, however icalendar holds them."""
    value = rule.get(key, [])
    return value if isinstance(value, list) else [value]
