"""The Python peer of calfeed's feed build: all.ics the way an icalendar user writes it.

    .venv/bin/python bench/naive.py CONFIG OUT

Reads config.yaml and every event file under feeds/ with PyYAML, builds one VEVENT per event
with icalendar's own classes (zoneinfo-aware datetimes, the agenda in the description, an
all-day event as dates), lets icalendar add the VTIMEZONEs it needs, and writes the calendar
to OUT. Nothing of calfeed is imported: this is what calfeed is measured against.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from icalendar import Calendar, Event


def moment(text: str, zone: ZoneInfo) -> datetime | date:
    """Read '2026-01-05T09:00' as a time in ``zone``, '2026-01-05' as a date."""
    if "T" in text:
        return datetime.fromisoformat(text).replace(tzinfo=zone)
    return date.fromisoformat(text)


def agenda(item: dict[str, Any]) -> str:
    """Write the sessions as lines of text, as a person would put them in the description."""
    lines = []
    for session in item.get("sessions", []):
        speakers = ", ".join(session.get("speakers", []))
        line = f"{session['start']}–{session['end']} {session['title']}"
        lines.append(f"{line} ({speakers})" if speakers else line)
    return "\n".join(lines)


def entry(item: dict[str, Any], site: dict[str, Any], now: datetime) -> Event:
    """Build the VEVENT of one event read from YAML."""
    zone = ZoneInfo(item.get("timezone", site["timezone"]))
    start, end = moment(item["start"], zone), moment(item["end"], zone)
    if not isinstance(start, datetime):
        end += timedelta(days=1)  # the YAML names the last day; DTEND is the day after
    event = Event()
    event.add("uid", f"{item['id']}@{site['base_url'].split('//')[1]}")
    event.add("dtstamp", now)
    event.add("sequence", 0)
    event.add("summary", item["title"])
    event.add("dtstart", start)
    event.add("dtend", end)
    if "location" in item:
        event.add("location", item["location"])
    event.add("url", f"{site['base_url']}/events/{item['id']}")
    text = "\n\n".join(part for part in (item.get("description", ""), agenda(item)) if part)
    event.add("description", text)
    event.add("categories", item["topics"])
    return event


def build(config_path: Path) -> bytes:
    """Return all.ics for the project of ``config_path``."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    site = config["site"]
    calendar = Calendar()
    calendar.add("prodid", "-//Bench//naive icalendar build//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", site["title"])
    now = datetime.now(UTC)
    feeds = config_path.parent / config.get("feeds_dir", "feeds")
    for path in sorted(feeds.rglob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for item in document["events"] if "events" in document else [document]:
            calendar.add_component(entry(item, site, now))
    calendar.add_missing_timezones()
    body: bytes = calendar.to_ical()
    return body


if __name__ == "__main__":
    Path(sys.argv[2]).write_bytes(build(Path(sys.argv[1])))
