"""Read .ics files with libical (Evolution's and KDE's parser), through its GObject binding.

Run with Debian's Python, which has the binding: ``/usr/bin/python3 libical.py FILE...``
(``apt-get install gir1.2-ical-3.0 python3-gi``). Prints, for each file in order, one line of
JSON: ``{"<uid>": ["<start>", "<end>", {"summary": ..., "description": ..., "location": ...,
"categories": [...], "conferences": [...], "alarms": [[action, seconds], ...]}], ...}``,
each text as libical unescapes it, each alarm's TRIGGER in seconds from the start. A timed
value is written as its UTC instant (``2026-10-25T00:30:00Z``), resolved through the
VTIMEZONE that the file itself carries; a DATE value as ``2026-11-30``. Exits 3 when libical
is missing, 1 when a file cannot be read cleanly (libical marks what it could not parse with
X-LIC-ERROR properties).
"""

import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

try:
    import gi

    gi.require_version("ICalGLib", "3.0")
    from gi.repository import ICalGLib
except (ImportError, ValueError) as err:
    print(
        f"libical is not installed ({err}): apt-get install gir1.2-ical-3.0 python3-gi",
        file=sys.stderr,
    )
    sys.exit(3)

Kind = ICalGLib.ComponentKind
Property = ICalGLib.PropertyKind


def errors(component: Any) -> Iterator[str]:
    """Yield the X-LIC-ERROR texts libical attached anywhere in ``component``."""
    found = component.get_first_property(Property.XLICERROR_PROPERTY)
    while found is not None:
        yield found.as_ical_string().strip()
        found = component.get_next_property(Property.XLICERROR_PROPERTY)
    inner = component.get_first_component(Kind.ANY_COMPONENT)
    while inner is not None:
        yield from errors(inner)
        inner = component.get_next_component(Kind.ANY_COMPONENT)


def instant(vevent: Any, kind: Any, read: Callable[[Any], Any]) -> str | None:
    """Return the value of one DTSTART/DTEND as text, or None if it is absent."""
    prop = vevent.get_first_property(kind)
    if prop is None:
        return None
    time = read(vevent)  # libical resolves TZID through the calendar's own VTIMEZONE
    if time.is_date():
        return f"{time.get_year():04d}-{time.get_month():02d}-{time.get_day():02d}"
    tzid = prop.get_parameter_as_string("TZID")
    if tzid:
        zone = time.get_timezone()
        # A built-in zone would carry libical's prefix: only the feed's VTIMEZONE counts.
        if zone is None or zone.get_tzid() != tzid:
            raise ValueError(f"TZID={tzid} has no VTIMEZONE in the file")
    elif not time.is_utc():
        raise ValueError(f"{time.as_ical_string()} is a floating time")
    else:
        zone = ICalGLib.Timezone.get_utc_timezone()
    seconds = time.as_timet_with_zone(zone)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


TEXTS = {
    "summary": Property.SUMMARY_PROPERTY,
    "description": Property.DESCRIPTION_PROPERTY,
    "location": Property.LOCATION_PROPERTY,
}


def texts(vevent: Any) -> dict[str, Any]:
    """Return the texts of ``vevent`` as libical unescapes them."""
    found: dict[str, Any] = {}
    for key, kind in TEXTS.items():
        prop = vevent.get_first_property(kind)
        if prop is not None:
            found[key] = prop.get_value().get_text()
    categories = []
    prop = vevent.get_first_property(Property.CATEGORIES_PROPERTY)
    while prop is not None:
        categories.append(prop.get_value().get_text())
        prop = vevent.get_next_property(Property.CATEGORIES_PROPERTY)
    found["categories"] = categories
    # libical 3.0 parses CONFERENCE (RFC 7986) but its binding has no name for the kind.
    conferences = []
    prop = vevent.get_first_property(Property.ANY_PROPERTY)
    while prop is not None:
        if prop.get_property_name() == "CONFERENCE":
            conferences.append(prop.get_value_as_string())
        prop = vevent.get_next_property(Property.ANY_PROPERTY)
    found["conferences"] = conferences
    alarms = []
    alarm = vevent.get_first_component(Kind.VALARM_COMPONENT)
    while alarm is not None:
        action = alarm.get_first_property(Property.ACTION_PROPERTY).get_value_as_string()
        trigger = alarm.get_first_property(Property.TRIGGER_PROPERTY).get_trigger()
        alarms.append([action, trigger.get_duration().as_int()])
        alarm = vevent.get_next_component(Kind.VALARM_COMPONENT)
    found["alarms"] = alarms
    return found


def read(path: str) -> dict[str, list[Any]]:
    """Return uid -> [start, end] of every VEVENT in the file at ``path``."""
    with open(path, encoding="utf-8") as file:
        calendar = ICalGLib.Component.new_from_string(file.read())
    if calendar is None or calendar.isa() != Kind.VCALENDAR_COMPONENT:
        raise ValueError("not a VCALENDAR")
    problems = list(errors(calendar))
    if problems:
        raise ValueError("; ".join(problems))
    found: dict[str, list[Any]] = {}
    vevent = calendar.get_first_component(Kind.VEVENT_COMPONENT)
    while vevent is not None:
        uid = vevent.get_uid()
        if uid in found:
            raise ValueError(f"UID {uid} appears twice")
        found[uid] = [
            instant(vevent, Property.DTSTART_PROPERTY, lambda c: c.get_dtstart()),
            instant(vevent, Property.DTEND_PROPERTY, lambda c: c.get_dtend()),
            texts(vevent),
        ]
        vevent = calendar.get_next_component(Kind.VEVENT_COMPONENT)
    return found


def main(paths: list[str]) -> int:
    for path in paths:
        try:
            print(json.dumps(read(path)))
        except ValueError as err:
            print(f"{path}: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
