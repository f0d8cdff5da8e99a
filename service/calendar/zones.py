"""One VTIMEZONE per TZID for a whole catalog, and which instants its wall times can carry.

A client may keep the first VTIMEZONE it sees for a TZID and read every later feed through
it: vobject, the parser inside Radicale and other CalDAV servers, does so for its whole
process, across all the calendars it imports. So a TZID must mean the same rules in
all.ics, in each topic feed, in each event's own calendar and in each personal feed. The
zones of an edition are therefore built once, from every timed entry of the catalog, each
spanning all the years that the catalog uses that zone; a feed carries those of its TZIDs.

An instant is written as wall time with its IANA TZID (what Google Calendar reads: the name)
wherever every reader takes that wall time to mean it, and in UTC where one would not: in a
repeated hour (RFC 5545 readers take the first occurrence, ical.js and libical the second),
and where classic Outlook's one rule for the zone (``outlook``) gives another offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from ..catalog import Catalog, Event
from .outlook import OutlookRule, outlook_rule
from .vtimezone import build_vtimezone


@dataclass(frozen=True, slots=True)
class Zone:
    """One TZID as the catalog's feeds carry it."""

    tzid: str
    first_year: int
    last_year: int
    vtimezone: bytes  # the serialised VTIMEZONE
    outlook: OutlookRule | None  # how classic Outlook reads it; None: it ignores it

    def carries(self, moment: datetime) -> bool:
        """Whether ``moment``'s wall time in this zone means ``moment`` to every reader."""
        offset = moment.utcoffset()
        if moment.replace(fold=1 - moment.fold).utcoffset() != offset:
            return False  # the wall time happens twice
        wall = moment.replace(tzinfo=None)
        return self.outlook is not None and self.outlook.offset(wall) == offset


Zones = dict[str, Zone]


Span = tuple[str, int, int]  # a TZID, the first and the last year it is used in


def catalog_zones(catalog: Catalog, span: Callable[[Event], Span | None] | None = None) -> Zones:
    """Return the zone of every TZID the catalog's timed entries use, over all their years.

    ``span`` gives each event's span (``event_span``): a caller may keep them from one
    catalog to the next, for the events that did not change.
    """
    spans: dict[str, tuple[int, int]] = {}
    for event in catalog.events:
        found = (span or event_span)(event)
        if found is None:
            continue
        tzid, first, last = found
        low, high = spans.get(tzid, (first, last))
        spans[tzid] = (min(low, first), max(high, last))
    return {tzid: zone(tzid, low, high) for tzid, (low, high) in sorted(spans.items())}


def event_span(event: Event) -> Span | None:
    """Return the TZID and years of an event's entries written in wall time (None: none)."""
    years = [(start.year, (end - timedelta(microseconds=1)).year) for start, end in _timed(event)]
    if not years:
        return None
    return event.timezone.key, min(first for first, _ in years), max(last for _, last in years)


@lru_cache(maxsize=1024)
def zone(tzid: str, first_year: int, last_year: int) -> Zone:
    """Return the zone ``tzid`` with a VTIMEZONE valid from first_year to last_year."""
    component = build_vtimezone(tzid, first_year, last_year)
    vtimezone: bytes = component.to_ical()
    return Zone(tzid, first_year, last_year, vtimezone, outlook_rule(component))


def _timed(event: Event) -> Iterator[tuple[datetime, datetime]]:
    """Yield (start, end) of each of an event's entries written in its zone's wall time."""
    if not event.all_day:
        yield event.start, event.end
    for session in event.sessions:
        yield session.start, session.end
