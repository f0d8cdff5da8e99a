"""Alarms: the VALARMs a subscriber chose, added to the entries of their personal feed only.

A public feed is one set of bytes for every reader, cached and revised as such, so it never
carries an alarm: whether and when a calendar rings is each person's choice, made on their
preferences page from ``LEAD_TIMES``. An alarm is a DISPLAY alarm (RFC 5545 3.6.6) with a
TRIGGER relative to the entry's start and a DESCRIPTION, which DISPLAY requires, in the
language of the feed it is in.

A cancelled event rings for nobody. An all-day event starts at midnight, so only lead times
of a day or more apply to it: a ten-minute alarm would ring at ten to midnight the day before.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import cache

import icalendar

from .. import language as words
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


def spoken(lead: timedelta, language: str) -> str:
    """Say a lead time as people do, in ``language``: ``10 minutes``, ``1 hour``, ``1 day``."""
    said = words.translations(language)
    seconds = int(lead.total_seconds())
    if seconds % 86400 == 0:
        return said.ngettext("%(num)d day", "%(num)d days", seconds // 86400) % {
            "num": seconds // 86400
        }
    if seconds % 3600 == 0:
        return said.ngettext("%(num)d hour", "%(num)d hours", seconds // 3600) % {
            "num": seconds // 3600
        }
    minutes = seconds // 60  # the lead times offered are whole minutes
    return said.ngettext("%(num)d minute", "%(num)d minutes", minutes) % {"num": minutes}


def applies(lead: timedelta, event: Event) -> bool:
    """Return True if an alarm ``lead`` before the start makes sense for ``event``."""
    if event.status == "cancelled":
        return False
    return not event.all_day or lead >= timedelta(days=1)


def with_alarms(block: Block, event: Event, alarms: Alarms, language: str) -> Block:
    """Return ``block`` (one stamped VEVENT of ``event``) with a VALARM for each lead time,
    saying it in ``language``."""
    wanted = [lead for lead in alarms if applies(lead, event)]
    if not wanted:
        return block
    if not block.data.endswith(_END):
        raise ValueError("not a single VEVENT block")
    head = block.data[: -len(_END)]
    rings = b"".join(valarm(lead, language) for lead in wanted)
    return replace(block, data=head + rings + _END)


@cache
def valarm(lead: timedelta, language: str) -> bytes:
    """Return the VALARM that rings ``lead`` before its entry starts, saying so in ``language``."""
    said = words.translations(language).gettext("Starts in %(lead)s")
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", Text(said % {"lead": spoken(lead, language)}))
    alarm.add("trigger", -lead)  # relative to DTSTART, the default of RELATED
    data: bytes = alarm.to_ical()
    return data
