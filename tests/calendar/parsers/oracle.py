"""What a client should see in each feed, computed from the YAML with PyYAML and zoneinfo alone.

This is the test oracle: it reads config.yaml and the event files the way docs/reference.md
describes them, without ``service.catalog``. A local wall time means the instant
zoneinfo gives it in the event's zone (``timezone``, else site.timezone; CET, CEST, MET and
MEST mean site.timezone); an explicit offset names its instant. A plain date makes an all-day
event whose ``end`` is the last day, inclusive. A session's ``HH:MM`` is on the event's first
day; its UID is ``<event-id>.<session-id>@<host>`` with ``id`` or, without one, the title as
a slug. The oracle refuses wall times that are skipped or repeated in their zone: a
catalog that holds one would not load, so expecting anything of it would be a guess.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml

from .readers import Read

LOCAL_ALIASES = {"CET", "CEST", "MET", "MEST"}
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_ISO = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")

_LINE_BREAK = re.compile("\r\n|[\r\n\u2028\u2029]")

Moment = date | datetime  # a date for all-day entries, else an aware UTC datetime


@dataclass(frozen=True)
class Entry:
    """One VEVENT a client should find: an event's own entry or one of its sessions."""

    uid: str
    title: str  # the event's or the session's own title, as written
    start: Moment
    end: Moment  # exclusive: for all-day entries the day after the last day
    zone: str | None  # the IANA zone of a timed entry, None for all-day ones
    event_id: str
    session_id: str | None = None

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


@dataclass(frozen=True)
class AgendaItem:
    """One session as the agenda should show it: wall times in the event's zone."""

    title: str
    start: datetime  # naive wall time
    end: datetime
    speakers: tuple[str, ...]


@dataclass(frozen=True)
class Event:
    """One event of the YAML, with everything a client should see of it."""

    id: str
    title: str
    topics: tuple[str, ...]
    status: str  # confirmed | tentative | cancelled
    zone: str
    entry: Entry
    sessions: tuple[Entry, ...]
    agenda: tuple[AgendaItem, ...]
    multi_day: bool
    raw: dict[str, Any]  # the mapping as written, for texts


@dataclass(frozen=True)
class Project:
    """config.yaml and every event, as the oracle reads them."""

    title: str
    host: str
    refresh: timedelta
    topics: dict[str, str]  # slug -> name
    events: dict[str, Event]

    def paths(self, pair: tuple[str, str]) -> list[str]:
        """Return every feed a client can fetch: all, each topic, ``pair``, each event."""
        return [
            "feeds/all.ics",
            *(f"feeds/{slug}.ics" for slug in self.topics),
            f"feeds/{'+'.join(pair)}.ics",
            *(f"events/{event_id}.ics" for event_id in self.events),
        ]

    def events_in(self, path: str) -> list[Event]:
        """Return the events whose entries the feed at ``path`` should hold."""
        kind, _, name = path.removesuffix(".ics").partition("/")
        if kind == "events":
            return [self.events[name]]
        if name == "all":
            return list(self.events.values())
        wanted = set(name.split("+"))
        return [event for event in self.events.values() if wanted.intersection(event.topics)]

    def entries(self, path: str) -> list[Entry]:
        """Return the entries the feed at ``path`` should hold, in no particular order."""
        events = self.events_in(path)
        if path.startswith("events/"):
            return [events[0].entry, *events[0].sessions]
        return [event.entry for event in events]

    def calendar_name(self, path: str) -> str:
        """Return the words the calendar's name should contain (all of them), as read."""
        kind, _, name = path.removesuffix(".ics").partition("/")
        if kind == "events":
            return as_read(self.events[name].title)
        return as_read(self.title)


def read_project(config_path: Path) -> Project:
    """Read config.yaml and every ``*.yaml`` / ``*.yml`` under its feeds_dir."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    folder = config_path.parent / config.get("feeds_dir", "feeds")
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml"))
    return project_from(config, [yaml.safe_load(p.read_text(encoding="utf-8")) for p in files])


def project_from(config: dict[str, Any], documents: list[Any]) -> Project:
    """Read a parsed config.yaml and parsed event files."""
    site = config["site"]
    site_zone = site["timezone"]
    host = urlsplit(site["base_url"]).hostname or "localhost"
    # Feeds name topics in the site's own language: a name given per language is read in it.
    language = site.get("language", "en")
    topics = {slug: own_text(topic["name"], language) for slug, topic in config["topics"].items()}
    events: dict[str, Event] = {}
    for document in documents:
        for raw in document["events"] if "events" in document else [document]:
            event = _event(raw, site_zone, host)
            assert event.id not in events, f"the YAML repeats id {event.id}"
            events[event.id] = event
    refresh = duration(str(config.get("feed", {}).get("refresh", "6h")))
    return Project(site["title"], host, refresh, topics, events)


def own_text(text: str | dict[str, str], language: str) -> str:
    """Return a text as the site's own language reads it: plain, or its entry in a mapping."""
    return text[language] if isinstance(text, dict) else text


def duration(text: str) -> timedelta:
    """Read ``90m``, ``6h``, ``1d`` or an ISO 8601 duration without years or months."""
    if compact := re.fullmatch(r"(\d+)\s*([smhdw])", text.strip()):
        return timedelta(**{_UNITS[compact[2]]: int(compact[1])})
    iso = _ISO.fullmatch(text.strip().upper())
    assert iso and text.strip() not in ("P", "PT"), f"not a duration: {text!r}"
    weeks, days, hours, minutes, seconds = (int(part or 0) for part in iso.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def slug(title: str) -> str:
    """Return a title as a session id: ASCII letters and digits joined by hyphens."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-") or "session"


def as_read(text: str) -> str:
    """Return the text a reader should show for ``text``: each line break as one LF.

    A feed has one way to write a line break (RFC 5545 3.3.11), so CRLF, CR and the Unicode
    line and paragraph separators read back as LF; every other character is kept as written.
    """
    return _LINE_BREAK.sub("\n", text)


def instant(value: str | date | datetime, zone: str) -> datetime:
    """Return the UTC instant that a YAML date-time names in ``zone``."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return wall_instant(moment, ZoneInfo(zone))


def wall_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """Return the one instant at which ``tz`` shows ``wall``; refuse skipped or repeated ones."""
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    assert first.utcoffset() == second.utcoffset(), f"{wall} happens twice in {tz.key}"
    utc = first.astimezone(UTC)
    assert utc.astimezone(tz).replace(tzinfo=None) == wall, f"{wall} never happens in {tz.key}"
    return utc


def wall_time(value: str | date | datetime, zone: str) -> datetime:
    """Return the wall time in ``zone`` that a YAML date-time shows there."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def _event(raw: dict[str, Any], site_zone: str, host: str) -> Event:
    event_id = raw["id"]
    zone = raw.get("timezone") or site_zone
    zone = site_zone if zone in LOCAL_ALIASES else zone
    start_value = raw["start"]
    if _is_date(start_value):
        first = _date(start_value)
        last = _date(raw.get("end", start_value))
        start: Moment = first
        end: Moment = last + timedelta(days=1)
        first_wall = datetime.combine(first, time())
        entry_zone = None
        multi_day = last > first
    else:
        start, end = instant(start_value, zone), instant(raw["end"], zone)
        first_wall = wall_time(start_value, zone)
        last_wall = wall_time(raw["end"], zone)
        entry_zone = zone
        multi_day = (last_wall - timedelta(microseconds=1)).date() > first_wall.date()
    entry = Entry(f"{event_id}@{host}", raw["title"], start, end, entry_zone, event_id)
    sessions = []
    agenda = []
    for spec in raw.get("sessions", []):
        session_id = spec.get("id") or slug(spec["title"])
        walls = [_session_value(spec[key], first_wall.date()) for key in ("start", "end")]
        sessions.append(
            Entry(
                f"{event_id}.{session_id}@{host}",
                spec["title"],
                instant(walls[0], zone),
                instant(walls[1], zone),
                zone,
                event_id,
                session_id,
            )
        )
        agenda.append(
            AgendaItem(
                spec["title"],
                wall_time(walls[0], zone),
                wall_time(walls[1], zone),
                tuple(spec.get("speakers", [])),
            )
        )
    return Event(
        id=event_id,
        title=raw["title"],
        topics=tuple(raw["topics"]),
        status=raw.get("status", "confirmed"),
        zone=zone,
        entry=entry,
        sessions=tuple(sessions),
        agenda=tuple(agenda),
        multi_day=multi_day,
        raw=raw,
    )


def _is_date(value: Any) -> bool:
    return (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and len(value.strip()) == 10
    )


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _session_value(value: Any, day: date) -> str | datetime:
    """Return a session time as a date-time: ``HH:MM`` is on the event's first day."""
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hours, minutes = value.strip().split(":")
        return datetime.combine(day, time(int(hours), int(minutes)))
    return value if isinstance(value, datetime) else str(value)


@dataclass(frozen=True, repr=False)
class ServedFeed:
    """A feed as a client fetched it, with the project the oracle read for it."""

    path: str  # feeds/all.ics, feeds/<a>+<b>.ics or events/<id>.ics
    body: bytes
    etag: str
    last_modified: datetime
    project: Project

    @property
    def entries(self) -> list[Entry]:
        """Return the entries the feed should hold."""
        return self.project.entries(self.path)

    @property
    def events(self) -> list[Event]:
        """Return the events whose entries the feed should hold."""
        return self.project.events_in(self.path)

    @property
    def is_event_feed(self) -> bool:
        return self.path.startswith("events/")

    def __repr__(self) -> str:
        return f"<{self.path} of {self.project.title!r}: {len(self.body)} octets>"


def text_mismatches(entry: Entry, event: Event, got: Read) -> list[str]:
    """Return how a reader's title, location and description of an entry differ from the YAML."""
    raw = event.raw
    title = as_read(entry.title)
    if entry.session_id is not None:
        title = f"{title} – {as_read(event.title)}"
    summary = f"Cancelled: {title}" if event.status == "cancelled" else title
    wrong = []
    if got.summary != summary:
        wrong.append(f"{entry.uid} SUMMARY {got.summary!r} is not {summary!r}")
    link = public_join_url(raw)
    location = expected_location(raw, link)
    if location is not None and got.location != location:
        wrong.append(f"{entry.uid} LOCATION {got.location!r} is not {location!r}")
    # A URI's , and ; percent-encoded: CalDAV servers on vobject cut a CONFERENCE at a comma.
    conference = link.replace(",", "%2C").replace(";", "%3B") if link else None
    if got.conferences != ((conference,) if conference else ()):
        wrong.append(f"{entry.uid} CONFERENCE {got.conferences!r} is not {conference!r}")
    description = got.description or ""
    if link is not None and entry.session_id is None and f"Join online: {link}" not in description:
        wrong.append(f"{entry.uid} DESCRIPTION {description!r} lacks the join link")
    keys = ("subtitle", "description") if entry.session_id is None else ()
    for key in keys:
        if raw.get(key) and as_read(raw[key].strip()) not in description:
            wrong.append(f"{entry.uid} DESCRIPTION {description!r} lacks the {key} as written")
    return wrong


def public_join_url(raw: dict[str, Any]) -> str | None:
    """Return the event's join link if everyone may see it (``online.public: true``)."""
    online = raw.get("online")
    return online["join_url"] if online and online.get("public") is True else None


def private_join_url(raw: dict[str, Any]) -> str | None:
    """Return the event's join link if only confirmed subscribers may see it (the default)."""
    online = raw.get("online")
    return online["join_url"] if online and online.get("public") is not True else None


def expected_location(raw: dict[str, Any], link: str | None) -> str | None:
    """Return the LOCATION a reader should show: the place, then a join link it may see.

    Outlook and Google Calendar show no CONFERENCE, so the link is in the location's text.
    """
    place = raw.get("location")
    if link is None:
        return None if place is None else as_read(place)
    if place is None or place.casefold() == "online":
        return f"Online: {link}"
    return f"{as_read(place)} and online: {link}"
