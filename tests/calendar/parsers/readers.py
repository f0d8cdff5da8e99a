"""Independent readers of a feed: icalendar, ical, ical.js, libical and the rest.

See the package docstring for what each reads and why through the feed's own VTIMEZONE.
Each reader reduces a feed to uid -> :class:`Read`: the instants and the texts it shows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
from ical.calendar_stream import IcsCalendarStream
from ical.timezone import IcsTimezoneInfo, Timezone
from ical.types import Recur

HERE = Path(__file__).resolve().parent
ICALJS = HERE / "icaljs.mjs"
LIBICAL = HERE / "libical.py"
VOBJECT = HERE / "vobject_feeds.py"
SYSTEM_PYTHON = Path("/usr/bin/python3")
READERS = ("icalendar", "ical", "ical.js", "libical", "vobject")
EXTERNAL = ("ical.js", "libical", "vobject")
TIME_READERS = (*READERS, "outlook")  # ``outlook`` reads instants only
INSTALL = {
    "ical.js": "Node 20 and `npm ci --prefix tests/calendar/js`",
    "libical": "`apt-get install -y gir1.2-ical-3.0 python3-gi` (Debian's /usr/bin/python3)",
}

Value = date | datetime | None


@dataclass(frozen=True)
class Read:
    """One VEVENT as a reader shows it: its instants in UTC (or dates) and its texts."""

    start: Value
    end: Value
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    categories: tuple[str, ...] = ()
    conferences: tuple[str, ...] = ()  # the URIs of CONFERENCE (RFC 7986)
    alarms: tuple[tuple[str, int], ...] = ()  # (ACTION, TRIGGER in seconds from the start)
    # SEQUENCE, as icalendar and ical.js read it (None: another reader, or none written);
    # left out of comparisons, for the other readers do not report it.
    sequence: int | None = field(default=None, compare=False)

    @property
    def times(self) -> tuple[Value, Value]:
        return self.start, self.end


Reading = dict[str, Read]


class ToolMissing(Exception):
    """An external parser is not installed on this machine."""


class NotThroughVtimezone(AssertionError):
    """A value cannot be read through the feed's own VTIMEZONE (or is floating)."""


# --- icalendar ----------------------------------------------------------------------------


def read_icalendar(body: bytes) -> Reading:
    """Read ``body`` with icalendar, resolving every TZID through the feed's VTIMEZONE."""
    calendar = icalendar.Calendar.from_ical(body)
    zones = {str(tz["TZID"]): tz.to_tz(lookup_tzid=False) for tz in calendar.timezones}
    reading: Reading = {}
    for event in calendar.events:
        uid = str(event["UID"])
        if uid in reading:
            raise AssertionError(f"UID {uid} appears twice")
        categories = event.get("CATEGORIES")
        conferences = event.get("CONFERENCE", [])
        reading[uid] = Read(
            _icalendar_value(event.get("DTSTART"), zones),
            _icalendar_value(event.get("DTEND"), zones),
            _icalendar_text(event.get("SUMMARY")),
            _icalendar_text(event.get("DESCRIPTION")),
            _icalendar_text(event.get("LOCATION")),
            tuple(str(c) for c in categories.cats) if categories is not None else (),
            tuple(map(str, conferences if isinstance(conferences, list) else [conferences])),
            tuple(_icalendar_alarm(alarm) for alarm in event.walk("VALARM")),
            int(event.decoded("SEQUENCE")) if "SEQUENCE" in event else None,
        )
    return reading


def _icalendar_alarm(alarm: Any) -> tuple[str, int]:
    return _ical_alarm(alarm["ACTION"], alarm["TRIGGER"].dt)


def _icalendar_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _icalendar_value(prop: Any, zones: dict[str, Any]) -> Value:
    if prop is None:
        return None
    value = prop.dt
    if not isinstance(value, datetime):
        assert isinstance(value, date), f"{value!r} is neither a date nor a date-time"
        return value
    tzid = prop.params.get("TZID")
    if tzid is not None:
        if tzid not in zones:
            raise NotThroughVtimezone(f"TZID={tzid} has no VTIMEZONE in the feed")
        return value.replace(tzinfo=None).replace(tzinfo=zones[tzid]).astimezone(UTC)
    if value.tzinfo is None:
        raise NotThroughVtimezone(f"{value} is a floating time")
    return value.astimezone(UTC)


# --- ical (allenporter) -------------------------------------------------------------------


def read_ical(body: bytes) -> Reading:
    """Read ``body`` with ical in strict mode, resolving TZIDs through the feed's VTIMEZONE."""
    calendar = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    zones = {tz.tz_id: ical_tzinfo(tz) for tz in calendar.timezones}
    reading: Reading = {}
    for event in calendar.events:
        if event.uid in reading:
            raise AssertionError(f"UID {event.uid} appears twice")
        reading[str(event.uid)] = Read(
            _ical_value(event.dtstart, zones),
            _ical_value(event.dtend, zones),
            event.summary,
            event.description,
            event.location,
            tuple(event.categories),
            tuple(conference.uri for conference in event.conference),
            tuple(_ical_alarm(alarm.action, alarm.trigger) for alarm in event.alarm),
        )
    return reading


def _ical_alarm(action: Any, trigger: Any) -> tuple[str, int]:
    if not isinstance(trigger, timedelta):
        raise AssertionError(f"TRIGGER {trigger!r} is not relative to the start")
    return str(action), int(trigger.total_seconds())


def ical_tzinfo(timezone_model: Timezone) -> IcsTimezoneInfo:
    """Return ical's reading of a parsed VTIMEZONE, adapted to what ical 14 evaluates.

    As in tests/calendar/test_vtimezone.py: ical hands each sub-component to dateutil.rrule, which
    rejects a naive DTSTART with the UTC UNTIL that RFC 5545 requires (dateutil #1006) and
    expands a sub-component without RRULE to nothing although its DTSTART is an onset. So
    UNTIL is made floating and a lone DTSTART gets COUNT=1, which means exactly that onset.
    """
    for observance in timezone_model.standard + timezone_model.daylight:
        if observance.rrule is None:
            observance.rrule = Recur.from_rrule("FREQ=YEARLY;COUNT=1")
        elif isinstance(observance.rrule.until, datetime):
            observance.rrule.until = observance.rrule.until.replace(tzinfo=None)
    return IcsTimezoneInfo.from_timezone(timezone_model)


def _ical_value(value: Value, zones: dict[str, IcsTimezoneInfo]) -> Value:
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        raise NotThroughVtimezone(f"{value} is a floating time")
    # ical swaps an IANA TZID for the system zone of that key; a Z value is UTC.
    key = getattr(value.tzinfo, "key", None)
    if value.tzinfo is UTC or key == "UTC":
        return value.astimezone(UTC)
    if key not in zones:
        raise NotThroughVtimezone(f"TZID={key} has no VTIMEZONE in the feed")
    return value.replace(tzinfo=None).replace(tzinfo=zones[key]).astimezone(UTC)


# --- ical.js, libical and vobject, as programs ------------------------------------------


def read_external(tool: str, paths: Sequence[Path]) -> list[Reading]:
    """Read the files at ``paths`` in order with ``tool`` (ical.js, libical, vobject) in one run.

    Raise ToolMissing when the tool is not installed, AssertionError when it cannot read a file.
    """
    if tool == "ical.js":
        node = shutil.which("node")
        if node is None:
            raise ToolMissing(f"ical.js: node is not installed; needs {INSTALL[tool]}")
        command = [node, str(ICALJS)]
    elif tool == "libical":
        if not SYSTEM_PYTHON.exists():
            raise ToolMissing(f"libical: {SYSTEM_PYTHON} is missing; needs {INSTALL[tool]}")
        command = [str(SYSTEM_PYTHON), "-I", str(LIBICAL)]
    elif tool == "vobject":
        command = [sys.executable, "-I", str(VOBJECT)]
    else:
        raise ValueError(f"unknown tool {tool!r}")
    done = subprocess.run(
        [*command, *map(str, paths)], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode == 3:
        raise ToolMissing(f"{tool}: {done.stderr.strip()}")
    if done.returncode != 0:
        raise AssertionError(f"{tool} refused a feed: {done.stderr.strip()}")
    lines = done.stdout.splitlines()
    if len(lines) != len(paths):
        raise AssertionError(f"{tool} printed {len(lines)} readings for {len(paths)} files")
    return [
        {
            uid: Read(
                _external_value(start),
                _external_value(end),
                texts.get("summary"),
                texts.get("description"),
                texts.get("location"),
                tuple(texts.get("categories", ())),
                tuple(texts.get("conferences", ())),
                tuple((action, seconds) for action, seconds in texts.get("alarms", ())),
                texts.get("sequence"),
            )
            for uid, (start, end, texts) in parsed
        }
        for parsed in (json.loads(line).items() for line in lines)
    ]


def _external_value(text: str | None) -> Value:
    if text is None:
        return None
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
