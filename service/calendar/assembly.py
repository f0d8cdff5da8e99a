"""Whole calendars: a header, the VTIMEZONEs the entries use, the entries, a footer.

Entries arrive as ready VEVENT blocks (bytes), so a feed of ten thousand events is assembled
by joining, not rebuilt. The header carries what subscribing clients read: the calendar's
name (NAME and X-WR-CALNAME), how often to poll (REFRESH-INTERVAL and X-PUBLISHED-TTL, the
same value), METHOD:PUBLISH. Every TZID used gets one VTIMEZONE, before the first VEVENT:
the catalog's own (``zones``), so that a TZID means the same in every feed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import icalendar

from .text import Text
from .zones import Zone

PRODID = "-//calfeed//calfeed//EN"


@dataclass(frozen=True, slots=True)
class Block:
    """One stamped VEVENT, ready to be joined into a calendar."""

    uid: str
    data: bytes
    zone: str | None  # the TZID it uses; None for all-day entries and those written in UTC
    sequence: int = 0  # its revision, as stamped in it (SEQUENCE and LAST-MODIFIED)
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class Header:
    """What a calendar says about itself."""

    name: str
    description: str | None
    url: str | None
    refresh: timedelta


def assemble(header: Header, blocks: Iterable[Block], zones: Mapping[str, Zone]) -> bytes:
    """Join a header, the VTIMEZONEs of ``zones`` the blocks use, and the blocks."""
    blocks = list(blocks)
    used = sorted({block.zone for block in blocks if block.zone is not None})
    parts = [_header(header)]
    parts.extend(zones[tzid].vtimezone for tzid in used)
    parts.extend(block.data for block in blocks)
    parts.append(b"END:VCALENDAR\r\n")
    return b"".join(parts)


def stamp_block(data: bytes, sequence: int, last_modified: datetime) -> bytes:
    """Add SEQUENCE, DTSTAMP and LAST-MODIFIED to an unstamped VEVENT block.

    DTSTAMP is the last modification, not the time of the request, so that an unchanged
    feed stays byte-identical and keeps its ETag.
    """
    moment = f"{last_modified:%Y%m%dT%H%M%SZ}"
    stamp = f"SEQUENCE:{sequence}\r\nDTSTAMP:{moment}\r\nLAST-MODIFIED:{moment}\r\n"
    head, end, tail = data.rpartition(b"END:VEVENT\r\n")
    if not end or tail:
        raise ValueError("not a single VEVENT block")
    return head + stamp.encode("ascii") + end


@lru_cache(maxsize=1024)
def _header(header: Header) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", PRODID)
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", Text(header.name))
    calendar.add("x-wr-calname", Text(header.name))
    if header.description:
        calendar.add("description", Text(header.description))
        calendar.add("x-wr-caldesc", Text(header.description))
    if header.url:
        calendar.add("source", header.url, parameters={"VALUE": "URI"})
    calendar.add("refresh-interval", header.refresh, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(header.refresh))
    data: bytes = calendar.to_ical()
    return data.removesuffix(b"END:VCALENDAR\r\n")
