"""Read .ics files with vobject (the parser inside Radicale and other CalDAV servers) in one run.

Usage: ``python vobject_feeds.py FILE...``. Prints, for each file in order, one line of JSON:
``{"<uid>": ["<start>", "<end>", {"summary": ..., "description": ..., "location": ...,
"categories": [...], "conferences": [...], "alarms": [[action, seconds], ...]}], ...}``: a
timed value as its UTC instant (``2026-10-25T00:30:00Z``), a
DATE value as ``2026-11-30``, texts as vobject unescapes them. Exits 3 when vobject is
missing, 1 when a file cannot be read.

All files are read by one process on purpose: vobject keeps the first VTIMEZONE it parses for
each TZID for the rest of the process (``registerTzid`` only registers a TZID it does not know
yet) and reads every later ``TZID=`` value through it, as a CalDAV server does across all the
calendars it imports. So the files must agree about each zone, or the later ones read wrong.
A TZID that no VTIMEZONE before it defined is refused, never looked up in vobject's own data.
"""

import json
import sys
from datetime import UTC, date, datetime
from typing import Any

try:
    import vobject
    from vobject.icalendar import getTzid
except ImportError as err:
    print(f"vobject is not installed ({err}): pip install -e '.[test]'", file=sys.stderr)
    sys.exit(3)


def instant(vevent: Any, name: str) -> str | None:
    """Return one DTSTART/DTEND as text, or None if it is absent."""
    if name not in vevent.contents:
        return None
    line = vevent.contents[name][0]
    value = line.value
    if not isinstance(value, datetime):
        assert isinstance(value, date), f"{name}: {value!r} is neither a date nor a date-time"
        return value.isoformat()
    tzid = line.params.get("TZID", [None])[0]
    if tzid is not None and getTzid(tzid, False) is None:
        raise ValueError(f"{name};TZID={tzid} has no VTIMEZONE before it")
    if value.tzinfo is None:
        raise ValueError(f"{name}:{value} is a floating time")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def texts(vevent: Any) -> dict[str, Any]:
    """Return the texts of ``vevent`` as vobject unescapes them."""
    found: dict[str, Any] = {}
    for name in ("summary", "description", "location"):
        if name in vevent.contents:
            found[name] = vevent.contents[name][0].value
    found["categories"] = [c for line in vevent.contents.get("categories", []) for c in line.value]
    found["conferences"] = [line.value for line in vevent.contents.get("conference", [])]
    found["alarms"] = [
        [alarm.action.value, int(alarm.trigger.value.total_seconds())]
        for alarm in vevent.contents.get("valarm", [])
    ]
    return found


def read(path: str) -> dict[str, list[Any]]:
    """Return uid -> [start, end, texts] of every VEVENT in the file at ``path``."""
    with open(path, encoding="utf-8") as file:
        (calendar,) = vobject.readComponents(file.read())
    found: dict[str, list[Any]] = {}
    for vevent in calendar.contents.get("vevent", []):
        uid = vevent.uid.value
        if uid in found:
            raise ValueError(f"UID {uid} appears twice")
        found[uid] = [instant(vevent, "dtstart"), instant(vevent, "dtend"), texts(vevent)]
    return found


def main(paths: list[str]) -> int:
    for path in paths:
        try:
            print(json.dumps(read(path)))
        except (ValueError, AssertionError) as err:
            print(f"{path}: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
