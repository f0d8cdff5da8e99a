"""Classic Outlook's reading of every zone (``service/calendar/outlook.py``, ``zones.py``).

Outlook keeps one STANDARD and one DAYLIGHT rule per VTIMEZONE and applies them to every year
(``parsers.outlook`` tells what Microsoft's specifications say). A feed keeps an instant's
wall time and TZID only where that reading is right (``Zone.carries``), else writes it in UTC.
The feeds' own instants go through the oracle in test_feed.py; here every zone of tzdata
does, over 1970-2037, and a few zones whose rules changed over the shorter spans a catalog
has. Instants are sampled where readings can differ: around each of zoneinfo's transitions,
around each yearly onset of Outlook's rule, and four times a year.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from parsers import outlook

from service.calendar.zones import Zone, zone

ALL_ZONES = sorted(zoneinfo.available_timezones())
FULL_SPAN = (1970, 2037)
CHANGED = ["Europe/Moscow", "America/Sao_Paulo", "Africa/Casablanca", "Asia/Tehran"]
CHANGED += ["America/Santiago", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/Dublin"]
SPANS = [(2010, 2026), (2018, 2019), (2019, 2019), (2026, 2026), (2026, 2037)]
_STEP = timedelta(days=7)  # since 1970 every state of a zone has lasted longer than this
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def transitions(tzid: str, first_year: int, last_year: int) -> tuple[datetime, ...]:
    """Return the UTC instants in the span at which zoneinfo changes offset or DST."""
    tz = zoneinfo.ZoneInfo(tzid)

    def state(at: datetime) -> tuple[timedelta | None, timedelta | None]:
        local = at.astimezone(tz)
        return local.utcoffset(), local.dst()

    at = datetime(first_year, 1, 1, tzinfo=UTC) - _STEP
    stop = datetime(last_year + 1, 1, 1, tzinfo=UTC) + _STEP
    found = []
    while at < stop:
        if state(at + _STEP) == state(at):
            at += _STEP
            continue
        low, high = at, at + _STEP
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            low, high = (middle, high) if state(middle) == state(low) else (low, middle)
        found.append(high)
        at = high
    return tuple(found)


def samples(tzid: str, span: tuple[int, int], rule: outlook.OneRule | None) -> set[datetime]:
    """Return the UTC instants worth checking in the span."""
    moments: set[datetime] = set()
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    for at in transitions(tzid, *span):
        moments.update(at + shift for shift in (-hour - minute, -minute, 0 * minute, hour))
    tz = zoneinfo.ZoneInfo(tzid)
    for year in range(span[0], span[1] + 1):
        moments.update(datetime(year, month, 15, 12, tzinfo=UTC) for month in (1, 4, 7, 10))
        onsets = [] if rule is None or rule.daylight is None else [rule.standard, rule.daylight]
        for onset in onsets:
            wall = onset.in_year(year).replace(tzinfo=tz)
            moments.update(wall + shift for shift in (-hour - minute, -minute, hour + minute))
    first, last = datetime(span[0], 1, 1, tzinfo=UTC), datetime(span[1] + 1, 1, 1, tzinfo=UTC)
    return {moment.astimezone(UTC) for moment in moments if first <= moment < last}


def misread(tzid: str, span: tuple[int, int]) -> tuple[list[str], int, int]:
    """Return (instants Outlook misreads, instants kept with the TZID, instants in UTC
    although their wall time happens once)."""
    carried: Zone = zone(tzid, *span)
    rule = outlook.rules(carried.vtimezone)[tzid]
    wrong, kept, in_utc = [], 0, 0
    assert (carried.outlook is None) == isinstance(rule, outlook.Unreadable), (
        f"the service and the oracle disagree whether Outlook reads {tzid}: {rule}"
    )
    one_rule = rule if isinstance(rule, outlook.OneRule) else None
    tz = zoneinfo.ZoneInfo(tzid)
    for moment in sorted(samples(tzid, span, one_rule)):
        local = moment.astimezone(tz)
        if not carried.carries(local):
            in_utc += local.replace(fold=1 - local.fold).utcoffset() == local.utcoffset()
            continue
        kept += 1
        assert one_rule is not None
        try:
            read = one_rule.utc(local.replace(tzinfo=None))
        except outlook.Unreadable as err:
            wrong.append(f"{local}: {err}")
            continue
        if read != moment:
            wrong.append(f"{local} ({moment:%Y-%m-%dT%H:%MZ}): Outlook reads {read:%H:%MZ}")
    return wrong, kept, in_utc


@pytest.mark.parametrize("tzid", ALL_ZONES)
def test_outlook_reads_every_wall_time_a_feed_keeps_over_1970_2037(tzid: str) -> None:
    wrong, _, _ = misread(tzid, FULL_SPAN)

    assert wrong == []


@pytest.mark.parametrize("span", SPANS, ids=lambda span: f"{span[0]}-{span[1]}")
@pytest.mark.parametrize("tzid", CHANGED)
def test_outlook_reads_every_wall_time_a_feed_keeps_over_shorter_spans(
    tzid: str, span: tuple[int, int]
) -> None:
    wrong, _, _ = misread(tzid, span)

    assert wrong == []


def test_no_zone_writes_a_wall_time_in_utc_for_outlook_over_a_year_of_current_rules() -> None:
    # Where the zone's history does not reach into the span, Outlook's one rule is right:
    # only repeated hours are written in UTC.
    counts = {tzid: misread(tzid, (2026, 2026))[1:] for tzid in ALL_ZONES}

    assert {tzid: in_utc for tzid, (_, in_utc) in counts.items() if in_utc} == {}
    assert all(kept for kept, _ in counts.values())
