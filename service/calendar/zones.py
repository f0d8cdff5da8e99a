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

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from ..catalog import Catalog
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


def catalog_zones(catalog: Catalog) -> Zones:
    """Return the zone of every TZID the catalog's timed entries use, over all their years."""
    spans: dict[str, tuple[int, int]] = {}
    for tzid, start, end in _timed(catalog):
        first, last = start.year, (end - timedelta(microseconds=1)).year
        low, high = spans.get(tzid, (first, last))
        spans[tzid] = (min(low, first), max(high, last))
    return {tzid: zone(tzid, low, high) for tzid, (low, high) in sorted(spans.items())}


@lru_cache(maxsize=1024)
def zone(tzid: str, first_year: int, last_year: int) -> Zone:
    """Return the zone ``tzid`` with a VTIMEZONE valid from first_year to last_year."""
    component = build_vtimezone(tzid, first_year, last_year)
    vtimezone: bytes = component.to_ical()
    return Zone(tzid, first_year, last_year, vtimezone, outlook_rule(component))


def _timed(catalog: Catalog) -> Iterator[tuple[str, datetime, datetime]]:
    """Yield (zone, start, end) of every entry that is written in its zone's wall time."""
    for event in catalog.events:
        tzid = event.timezone.key
        if not event.all_day:
            yield tzid, event.start, event.end
        for session in event.sessions:
            yield tzid, session.start, session.end
