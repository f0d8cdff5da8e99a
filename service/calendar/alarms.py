"""Alarms: the VALARMs a subscriber chose, added to the entries of their personal feed only.

A public feed is one set of bytes for every reader, cached and revised as such, so it never
carries an alarm: whether and when a calendar rings is each person's choice, made on their
preferences page from ``LEAD_TIMES``. An alarm is a DISPLAY alarm (RFC 5545 3.6.6) with a
TRIGGER relative to the entry's start and a DESCRIPTION, which DISPLAY requires.

A cancelled event rings for nobody. An all-day event starts at midnight, so only lead times
of a day or more apply to it: a ten-minute alarm would ring at ten to midnight the day before.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import cache

import icalendar

from ..catalog import Event
from .assembly import Block
from .text import Text

Alarms = tuple[timedelta, ...]

# What the preferences page offers, shortest first.
LEAD_TIMES: Alarms = (
    timedelta(minutes=10),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(days=1),
)
_END = b"END:VEVENT\r\n"


def spoken(lead: timedelta) -> str:
    """Say a lead time as people do: ``10 minutes``, ``1 hour``, ``1 day``."""
    seconds = int(lead.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def applies(lead: timedelta, event: Event) -> bool:
    """Return True if an alarm ``lead`` before the start makes sense for ``event``."""
    if event.status == "cancelled":
        return False
    return not event.all_day or lead >= timedelta(days=1)


def with_alarms(block: Block, event: Event, alarms: Alarms) -> Block:
    """Return ``block`` (one stamped VEVENT of ``event``) with a VALARM for each lead time."""
    wanted = [lead for lead in alarms if applies(lead, event)]
    if not wanted:
        return block
    if not block.data.endswith(_END):
        raise ValueError("not a single VEVENT block")
    head = block.data[: -len(_END)]
    return replace(block, data=head + b"".join(map(valarm, wanted)) + _END)


@cache
def valarm(lead: timedelta) -> bytes:
    """Return the VALARM that rings ``lead`` before its entry starts."""
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", Text(f"Starts in {spoken(lead)}"))
    alarm.add("trigger", -lead)  # relative to DTSTART, the default of RELATED
    data: bytes = alarm.to_ical()
    return data
