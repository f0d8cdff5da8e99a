"""Compact, RRULE-based VTIMEZONE components built from the IANA database.

An ICS feed that uses ``DTSTART;TZID=Europe/Brussels:...`` must carry a VTIMEZONE that
describes how that zone's UTC offset changes. Each STANDARD or DAYLIGHT sub-component
names an onset (DTSTART, as local wall time before the change), the offsets in force
before and after it (TZOFFSETFROM, TZOFFSETTO) and how the onset repeats.

icalendar's ``Timezone.from_tzinfo`` repeats onsets with long RDATE lists. Classic
Outlook reads only RRULE, TZOFFSETFROM, TZOFFSETTO and DTSTART, so it ignores those
lists and shows events an hour off, and Google rejected large feeds built that way.
This module therefore describes each run of years that follow one daylight-saving rule
("last Sunday of March at 02:00") as a single sub-component with a yearly RRULE,
bounded by UNTIL when the rule stops inside the requested span. Onsets that follow no
rule become one-off sub-components with just a DTSTART; RDATE is never written.

The transitions come from stdlib ``zoneinfo`` (system tz database or the ``tzdata``
package), so reading any existing local time of the span through the VTIMEZONE yields
the same UTC offset as ``zoneinfo``; a repeated wall time means its first occurrence,
as RFC 5545 says. (Wall times skipped by a spring-forward gap are up to each client.)
"""

from __future__ import annotations

import calendar
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import icalendar

_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 86_400
_ZERO = timedelta(0)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

# Preference among rules that fit the same onsets: Outlook understands only nth/last
# weekday rules, and "last" is how most zones (EU, old US) state the days it shares with
# "4th". Weekday windows express tzdata's "Sun>=9"-style rules (Chile, Brazil, Israel).
_RANK_LAST_WEEKDAY = 0
_RANK_NTH_WEEKDAY = 1
_RANK_WEEKDAY_WINDOW = 2
_RANK_MONTH_DAY = 3


@dataclass(frozen=True)
class _State:
    """The UTC offset, DST amount and abbreviation in force at some instant."""

    offset: timedelta
    dst: timedelta
    name: str


@dataclass(frozen=True)
class _Transition:
    """A change of state at a UTC instant (seconds since the epoch)."""

    at: int
    before: _State
    after: _State

    @property
    def onset(self) -> datetime:
        """Local wall time just before the change, as DTSTART wants it."""
        return _EPOCH + timedelta(seconds=self.at) + self.before.offset

    @property
    def is_daylight(self) -> bool:
        """Whether the state entered belongs in a DAYLIGHT sub-component."""
        if self.after.dst > _ZERO:
            return True
        # tzdata models Irish, Namibian and Moroccan time with negative DST (winter is
        # the "DST" state); clients expect DAYLIGHT to be the higher offset, so, like
        # tzdata's rearguard format, the state left from negative DST counts as daylight.
        return (
            self.after.dst == _ZERO
            and self.before.dst < _ZERO
            and self.after.offset > self.before.offset
        )


@dataclass(frozen=True, order=True)
class _Rule:
    """A yearly onset date: nth or last weekday, weekday on or after a day, fixed day."""

    rank: int
    month: int
    weekday: int = 0
    week: int = 0
    month_day: int = 0

    def recur(self) -> dict[str, object]:
        """Return the RRULE parts (without FREQ or UNTIL) for this pattern."""
        weekday = _WEEKDAYS[self.weekday]
        if self.rank == _RANK_MONTH_DAY:
            return {"BYMONTH": self.month, "BYMONTHDAY": self.month_day}
        if self.rank == _RANK_WEEKDAY_WINDOW:
            window = list(range(self.month_day, self.month_day + 7))
            return {"BYMONTH": self.month, "BYDAY": weekday, "BYMONTHDAY": window}
        return {"BYMONTH": self.month, "BYDAY": f"{self.week}{weekday}"}


@dataclass
class _Period:
    """Onsets of one kind in consecutive years, all matching every rule in ``rules``."""

    transitions: list[_Transition]
    rules: frozenset[_Rule]

    @property
    def first(self) -> _Transition:
        return self.transitions[0]

    @property
    def last(self) -> _Transition:
        return self.transitions[-1]


def build_vtimezone(zone: str, first_year: int, last_year: int) -> icalendar.Timezone:
    """Build an RRULE-based VTIMEZONE for ``zone`` valid from first_year to last_year."""
    if first_year > last_year:
        raise ValueError(f"first_year {first_year} is after last_year {last_year}")
    tz = zoneinfo.ZoneInfo(zone)
    span_start = datetime(first_year, 1, 1)
    span_end = datetime(last_year + 1, 1, 1)
    # A year of look-back finds the onset in force at span_start when it belongs to a
    # yearly rule that continues into the span; older onsets cannot join such a rule.
    scan_start = _timestamp(datetime(first_year - 1, 1, 1))
    found = _scan(tz, scan_start, _timestamp(span_end))
    preceding = [t for t in found if t.onset < span_start][-1:]
    within = [t for t in found if span_start <= t.onset < span_end]
    initial = preceding[0].after if preceding else _state_at(tz, scan_start)
    periods = _group(preceding + within)
    if preceding and len(periods[0].transitions) == 1:
        # Unless it starts a rule that continues into the span, the onset in force at
        # span_start only tells the state there; its TZOFFSETFROM may even be a local
        # mean time with seconds, so a constant observance from 1970 replaces it.
        del periods[0]
        preceding = []
    subcomponents = [_observance(period, last_year) for period in periods]
    if not preceding:
        subcomponents.append(_initial_observance(initial, min(first_year, _EPOCH.year)))
    vtimezone = icalendar.Timezone()
    vtimezone.add("TZID", zone)
    vtimezone.add("X-LIC-LOCATION", zone)
    for subcomponent in sorted(subcomponents, key=_sort_key):
        vtimezone.add_component(subcomponent)
    return vtimezone


def _timestamp(moment: datetime) -> int:
    """Return the naive UTC ``moment`` as whole seconds since the epoch."""
    return (moment - _EPOCH) // timedelta(seconds=1)


def _local(at: int, tz: zoneinfo.ZoneInfo) -> datetime:
    """Return the UTC instant ``at`` in ``tz``.

    Arithmetic from a fixed epoch rather than ``datetime.fromtimestamp``, which test clocks
    such as freezegun replace with a version that gets zones wrong.
    """
    return (_EPOCH_UTC + timedelta(seconds=at)).astimezone(tz)


def _state_at(tz: zoneinfo.ZoneInfo, at: int) -> _State:
    """Return the state of ``tz`` at the UTC instant ``at``."""
    local = _local(at, tz)
    return _State(local.utcoffset() or _ZERO, local.dst() or _ZERO, local.tzname() or "")


def _scan(tz: zoneinfo.ZoneInfo, start: int, end: int) -> list[_Transition]:
    """Return the transitions of ``tz`` between the UTC instants start and end."""
    # A day's margin on each side keeps onsets near midnight of either bound whatever
    # the zone's offset; callers filter by local onset time.
    at = start - _DAY
    stop = end + _DAY
    state = _state_at(tz, at)
    transitions: list[_Transition] = []
    while (at := _last_day_unchanged(tz, at, stop, state)) < stop:
        at = _first_change(tz, at, at + _DAY, state)
        after = _state_at(tz, at)
        transitions.append(_Transition(at, state, after))
        state = after
    return transitions


def _last_day_unchanged(tz: zoneinfo.ZoneInfo, at: int, stop: int, state: _State) -> int:
    """Step a day at a time from ``at`` and return the last step still in ``state``."""
    # Daily steps find every state that lasts at least a day; since 1970 the shortest
    # has lasted almost a week. This loop is where building spends its time.
    unchanged = (state.offset, state.dst)
    while at < stop:
        local = _local(at + _DAY, tz)
        if (local.utcoffset(), local.dst()) != unchanged:
            return at
        at += _DAY
    return at


def _offsets_at(tz: zoneinfo.ZoneInfo, at: int) -> tuple[timedelta | None, timedelta | None]:
    """Return (utcoffset, dst) of ``tz`` at ``at``: what a transition changes."""
    local = _local(at, tz)
    return local.utcoffset(), local.dst()


def _first_change(tz: zoneinfo.ZoneInfo, low: int, high: int, state: _State) -> int:
    """Return the first second after ``low`` at which ``tz`` leaves ``state``."""
    unchanged = (state.offset, state.dst)
    while high - low > 1:
        middle = (low + high) // 2
        if _offsets_at(tz, middle) == unchanged:
            low = middle
        else:
            high = middle
    return high


def _candidate_rules(onset: datetime) -> frozenset[_Rule]:
    """Return every yearly pattern that the date of ``onset`` satisfies."""
    month, day, weekday = onset.month, onset.day, onset.weekday()
    rules = {_Rule(_RANK_MONTH_DAY, month, month_day=day)}
    # A 5th weekday exists only in some years, so days 29-31 are described as "last".
    if day <= 28:
        rules.add(_Rule(_RANK_NTH_WEEKDAY, month, weekday, week=(day - 1) // 7 + 1))
    if day + 7 > calendar.monthrange(onset.year, month)[1]:
        rules.add(_Rule(_RANK_LAST_WEEKDAY, month, weekday, week=-1))
    # Windows must fit the month in every year (2001 is a common year, so February has
    # its 28 days); those starting on days 1, 8, 15 and 22 are the nth-weekday rules.
    shortest_month = calendar.monthrange(2001, month)[1]
    for first_day in range(max(1, day - 6), min(day, shortest_month - 6) + 1):
        if first_day % 7 != 1:
            rules.add(_Rule(_RANK_WEEKDAY_WINDOW, month, weekday, month_day=first_day))
    return frozenset(rules)


def _kind(transition: _Transition) -> tuple[bool, timedelta, timedelta, str, time]:
    """Return what onsets must share to be described by one sub-component."""
    return (
        transition.is_daylight,
        transition.before.offset,
        transition.after.offset,
        transition.after.name,
        transition.onset.time(),
    )


def _group(transitions: list[_Transition]) -> list[_Period]:
    """Group time-ordered transitions into runs of consecutive years with a common rule."""
    periods: list[_Period] = []
    for transition in transitions:
        onset = transition.onset
        candidates = _candidate_rules(onset)
        for period in periods:
            if (
                _kind(period.last) == _kind(transition)
                and period.last.onset.year == onset.year - 1
                and period.rules & candidates
            ):
                period.transitions.append(transition)
                period.rules &= candidates
                break
        else:
            periods.append(_Period([transition], candidates))
    return periods


def _observance(
    period: _Period, last_year: int
) -> icalendar.TimezoneStandard | icalendar.TimezoneDaylight:
    """Return the STANDARD or DAYLIGHT sub-component describing ``period``."""
    first, last = period.first, period.last
    subcomponent = _subcomponent(first.is_daylight)
    subcomponent.add("DTSTART", first.onset)
    open_ended = last.onset.year >= last_year
    # An open-ended rule keeps recurring for clients that, like Outlook, only ever
    # look at the latest rule, even when the span holds just one onset.
    if len(period.transitions) > 1 or open_ended:
        recur: dict[str, object] = {"FREQ": "YEARLY"}
        if not open_ended:
            recur["UNTIL"] = _until(last)
        recur.update(min(period.rules).recur())
        subcomponent.add("RRULE", recur)
    subcomponent.add("TZOFFSETFROM", first.before.offset)
    subcomponent.add("TZOFFSETTO", first.after.offset)
    if first.after.name:
        subcomponent.add("TZNAME", first.after.name)
    return subcomponent


def _until(last: _Transition) -> datetime:
    """Return an RRULE UNTIL that keeps the last onset however a client reads it."""
    utc = _EPOCH + timedelta(seconds=last.at)
    # RFC 5545 wants UNTIL in UTC, but dateutil's tzical (behind icalendar's to_tz())
    # drops the Z and compares UNTIL with the local onsets, so east of UTC the exact
    # instant would lose the final onset there. Any UNTIL from that onset to the next,
    # a year later, means the same to conforming readers: take the later reading.
    return max(utc, last.onset).replace(tzinfo=UTC)


def _initial_observance(
    state: _State, year: int
) -> icalendar.TimezoneStandard | icalendar.TimezoneDaylight:
    """Return a sub-component stating ``state`` from Jan 1 of ``year`` on."""
    subcomponent = _subcomponent(state.dst > _ZERO)
    subcomponent.add("DTSTART", datetime(year, 1, 1))
    subcomponent.add("TZOFFSETFROM", state.offset)
    subcomponent.add("TZOFFSETTO", state.offset)
    if state.name:
        subcomponent.add("TZNAME", state.name)
    return subcomponent


def _subcomponent(daylight: bool) -> icalendar.TimezoneStandard | icalendar.TimezoneDaylight:
    """Return an empty DAYLIGHT or STANDARD sub-component."""
    return icalendar.TimezoneDaylight() if daylight else icalendar.TimezoneStandard()


def _sort_key(
    subcomponent: icalendar.TimezoneStandard | icalendar.TimezoneDaylight,
) -> tuple[datetime, str]:
    """Order sub-components by onset, as RFC 5545 examples and Outlook exports do."""
    onset: datetime = subcomponent.DTSTART
    return onset, subcomponent.name
