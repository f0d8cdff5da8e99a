"""Fixtures for the calendar tests: the seed project, a catalog of edge cases, their feeds.

Two sets of feeds are checked against docs/promises.md, "What a feed satisfies":

* ``seed``: the repository's own config.yaml and feeds/ (the events of the seed page);
* ``edge``: the catalog of edge cases below, written as YAML into a project folder: the DST
  weeks of ten zones (events at 01:00, 02:30 and 03:00 the day before, of and after both
  changes, wherever that wall time exists once: Brussels, Stockholm, New York, Sao Paulo's
  last DST, Sydney, Lord Howe's half hour, Chatham at +12:45, Kolkata without DST, Dublin's
  negative DST, Casablanca's Ramadan), events across each change, explicit offsets inside
  repeated hours, zones whose rules changed (Moscow 2010, 2011, 2014 and 2026, Sao Paulo 2019
  and 2026, Brussels 2019 and 2037), all-day and multi-day events, a timed event over a DST
  change with full date-time sessions, events over a year change, Unicode and hostile texts
  (a literal backslash-N; in free text LF, U+2028, U+2029 and tabs; emoji, combining
  characters; one-line fields hold no line break or control character, as check requires),
  very long lines, a cancelled and a tentative event, an organiser and contacts.

For each set every feed a client can fetch is built once per session, with a fixed clock
(2026-01-01T00:00Z) so the bytes are deterministic: feeds/all.ics, one per topic, one pair
``a+b`` and one per event. Tests that take a ``feed`` (or ``topic_feed``, ``event_feed``)
argument run once for each of them. What each feed should hold comes from ``parsers.oracle``,
which reads the same YAML without the code under test.

Golden files: ``golden(path, body)`` compares with tests/golden/<path>; with
CALFEED_UPDATE_GOLDEN=1 it rewrites the file instead, and the run's summary lists what it
rewrote. Refresh all of them with::

    CALFEED_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/calendar -k golden

This folder has no ``__init__.py`` on purpose: a test package named ``calendar`` would shadow
the standard library's ``calendar`` module and fail collection. Shared helpers live in the
``parsers`` package beside this file (pytest puts this folder on sys.path), and tests get
the catalog through fixtures, never by importing this module.
"""

from __future__ import annotations

import difflib
import os
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from parsers import caldav, oracle, outlook, readers
from parsers.oracle import ServedFeed

from service.calendar.edition import Edition, Publisher
from service.catalog import load_catalog
from service.store.database import open_database
from service.store.revisions import RevisionStore

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
FIXED = datetime(2026, 1, 1, tzinfo=UTC)
UPDATE_GOLDEN = os.environ.get("CALFEED_UPDATE_GOLDEN") == "1"
REQUIRE_PARSERS = os.environ.get("CALFEED_REQUIRE_PARSERS") == "1"

# --- the edge-case catalog ----------------------------------------------------------------

EDGE_CONFIG: dict[str, Any] = {
    "site": {
        "title": "Edge cases; calendars, \\ “quoted” ✓ \\N",
        "base_url": "https://events.example.org",
        "timezone": "Europe/Brussels",
    },
    "feeds_dir": "feeds",
    "feed": {"refresh": "90m"},
    "database": "sqlite:///var/calfeed.sqlite3",
    "topics": {
        "dst-europe": {"name": "DST weeks in Europe"},
        "dst-americas": {"name": "DST weeks in the Americas"},
        "dst-asia-pacific": {
            "name": "DST weeks in Asia & the Pacific",
            "description": "Sydney; Kolkata, which has none",
        },
        "dst-africa": {"name": "Ramadan in Casablanca"},
        "rules": {
            "name": "Zones whose rules changed",
            "description": "Moscow, Sao Paulo; events from 2010 to 2037",
        },
        "text": {"name": "Text: ; , \\ and 🎉, not \\N a new line"},
        "days": {"name": "All-day and multi-day"},
        "status": {"name": "Cancelled and tentative"},
        "online": {"name": "Online and hybrid"},
        "empty": {"name": "Nothing here yet"},
    },
    "reminders": {"before_start": ["1d"]},
}
EDGE_PAIR = ("dst-europe", "days")
SEED_PAIR = ("procurement", "supply-chains")

# Zone -> (topic, the days its clocks change). Sao Paulo's last DST (2018-19), before Brazil
# dropped it; Kolkata has no DST and takes Europe's days, at +05:30 all year. Lord Howe moves
# by half an hour, Chatham (+12:45) at 02:45; Dublin's summer is tzdata's standard time
# (negative DST), and Casablanca goes back to +00 for Ramadan.
DST_WEEKS = {
    "Europe/Brussels": ("dst-europe", (date(2026, 3, 29), date(2026, 10, 25))),
    "Europe/Stockholm": ("dst-europe", (date(2026, 3, 29), date(2026, 10, 25))),
    "America/New_York": ("dst-americas", (date(2026, 3, 8), date(2026, 11, 1))),
    "America/Sao_Paulo": ("dst-americas", (date(2018, 11, 4), date(2019, 2, 17))),
    "Australia/Sydney": ("dst-asia-pacific", (date(2026, 4, 5), date(2026, 10, 4))),
    "Asia/Kolkata": ("dst-asia-pacific", (date(2026, 3, 29), date(2026, 10, 25))),
    "Australia/Lord_Howe": ("dst-asia-pacific", (date(2026, 4, 5), date(2026, 10, 4))),
    "Pacific/Chatham": ("dst-asia-pacific", (date(2026, 4, 5), date(2026, 9, 27))),
    "Europe/Dublin": ("dst-europe", (date(2026, 3, 29), date(2026, 10, 25))),
    "Africa/Casablanca": ("dst-africa", (date(2026, 2, 15), date(2026, 3, 22))),
}

# Zones whose rules changed, in one catalog with their current rules: Moscow on DST at +04
# (2010), at +04 all year from 2011 and at +03 from 2014; Sao Paulo's last DST summer and
# no DST since; Brussels from 2019 to the last year a 32-bit clock reaches.
RULES = [
    ("Europe/Moscow", "2010-07-01T12:00", "2010-07-01T13:00"),
    ("Europe/Moscow", "2010-12-15T12:00", "2010-12-15T13:00"),
    ("Europe/Moscow", "2011-03-26T12:00", "2011-03-26T13:00"),
    ("Europe/Moscow", "2011-03-28T12:00", "2011-03-28T13:00"),
    ("Europe/Moscow", "2011-07-01T12:00", "2011-07-01T13:00"),
    ("Europe/Moscow", "2014-07-01T12:00", "2014-07-01T13:00"),
    ("Europe/Moscow", "2014-10-25T12:00", "2014-10-25T13:00"),
    ("Europe/Moscow", "2014-10-27T12:00", "2014-10-27T13:00"),
    ("Europe/Moscow", "2026-01-15T12:00", "2026-01-15T13:00"),
    ("Europe/Moscow", "2026-07-01T12:00", "2026-07-01T13:00"),
    ("America/Sao_Paulo", "2019-01-02T12:00", "2019-01-02T13:00"),
    ("America/Sao_Paulo", "2019-01-15T12:00", "2019-01-15T13:00"),
    ("America/Sao_Paulo", "2019-02-10T12:00", "2019-02-10T13:00"),
    ("America/Sao_Paulo", "2019-11-10T12:00", "2019-11-10T13:00"),
    ("America/Sao_Paulo", "2026-01-15T12:00", "2026-01-15T13:00"),
    ("America/Sao_Paulo", "2026-11-10T12:00", "2026-11-10T13:00"),
    ("Europe/Brussels", "2019-06-15T10:00", "2019-06-15T11:00"),
    ("Europe/Brussels", "2037-03-29T01:00", "2037-03-29T04:00"),
    ("Europe/Brussels", "2037-06-15T10:00", "2037-06-15T11:00"),
    ("Europe/Brussels", "2037-10-25T01:00", "2037-10-25T04:00"),
]
DST_TIMES = (time(1, 0), time(2, 30), time(3, 0))
DST_LENGTH = timedelta(minutes=45)

# Events across each change: (zone, start, end) in wall time, both ends existing once.
ACROSS = [
    ("Europe/Brussels", "2026-03-29T01:00", "2026-03-29T04:00"),
    ("Europe/Brussels", "2026-10-25T01:00", "2026-10-25T04:00"),
    ("Europe/Stockholm", "2026-03-29T01:30", "2026-03-29T03:30"),
    ("Europe/Stockholm", "2026-10-25T01:30", "2026-10-25T03:30"),
    ("America/New_York", "2026-03-08T01:00", "2026-03-08T04:00"),
    ("America/New_York", "2026-11-01T00:30", "2026-11-01T03:30"),
    ("America/Sao_Paulo", "2018-11-03T22:00", "2018-11-04T02:00"),
    ("America/Sao_Paulo", "2019-02-16T22:00", "2019-02-17T01:00"),
    ("Australia/Sydney", "2026-04-05T01:00", "2026-04-05T04:00"),
    ("Australia/Sydney", "2026-10-04T01:00", "2026-10-04T04:00"),
    ("Asia/Kolkata", "2026-03-29T01:00", "2026-03-29T04:00"),
]

# Wall times inside a repeated hour, made unambiguous by an explicit offset.
EXPLICIT = [
    ("Europe/Brussels", "first-0230", "2026-10-25T02:30+02:00", "2026-10-25T02:50+02:00"),
    ("Europe/Brussels", "second-0230", "2026-10-25T02:30+01:00", "2026-10-25T03:15"),
    ("Europe/Brussels", "first-to-second", "2026-10-25T02:10+02:00", "2026-10-25T02:40+01:00"),
    ("America/New_York", "first-0130", "2026-11-01T01:30-04:00", "2026-11-01T01:50-04:00"),
    ("America/New_York", "second-0130", "2026-11-01T01:30-05:00", "2026-11-01T02:15"),
    ("Australia/Sydney", "first-0230", "2026-04-05T02:30+11:00", "2026-04-05T02:45+11:00"),
    ("Australia/Sydney", "second-0230", "2026-04-05T02:30+10:00", "2026-04-05T03:00"),
]


def _zone_slug(zone: str) -> str:
    return zone.lower().replace("/", "-").replace("_", "-")


def _exists_once(wall: datetime, zone: str) -> bool:
    tz = ZoneInfo(zone)
    first, second = wall.replace(tzinfo=tz), wall.replace(tzinfo=tz, fold=1)
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return first.utcoffset() == second.utcoffset() and back == wall


def _dst_file(zone: str) -> dict[str, Any]:
    topic, days = DST_WEEKS[zone]
    events: list[dict[str, Any]] = []
    for change in days:
        for shift in (-1, 0, 1):
            day = change + timedelta(days=shift)
            for clock in DST_TIMES:
                start = datetime.combine(day, clock)
                end = start + DST_LENGTH
                if not (_exists_once(start, zone) and _exists_once(end, zone)):
                    continue  # skipped or repeated: covered by ACROSS and EXPLICIT
                events.append(
                    {
                        "id": f"{_zone_slug(zone)}-{start:%Y%m%d-%H%M}",
                        "title": f"{zone} {start:%a %d %b %Y %H:%M}",
                        "topics": [topic],
                        "timezone": zone,
                        "start": start.isoformat(timespec="minutes"),
                        "end": end.isoformat(timespec="minutes"),
                    }
                )
    for across_zone, start_text, end_text in ACROSS:
        if across_zone == zone:
            events.append(
                {
                    "id": f"{_zone_slug(zone)}-{start_text[:10].replace('-', '')}-across",
                    "title": f"{zone}: across the change, {start_text} – {end_text}",
                    "topics": [topic],
                    "timezone": zone,
                    "start": start_text,
                    "end": end_text,
                }
            )
    for explicit_zone, name, start_text, end_text in EXPLICIT:
        if explicit_zone == zone:
            events.append(
                {
                    "id": f"{_zone_slug(zone)}-{name}",
                    "title": f"{zone}: {start_text} to {end_text}",
                    "topics": [topic],
                    "timezone": zone,
                    "start": start_text,
                    "end": end_text,
                }
            )
    assert len(events) >= 9, f"the DST week of {zone} produced only {len(events)} events"
    return {"events": events}


def _rules_file() -> dict[str, Any]:
    events = []
    for zone, start, end in RULES:
        events.append(
            {
                "id": f"{_zone_slug(zone)}-{start[:13].replace('-', '').replace('T', '-')}",
                "title": f"{zone} {start}",
                "topics": ["rules"],
                "timezone": zone,
                "start": start,
                "end": end,
            }
        )
    return {"events": events}


DAYS: dict[str, Any] = {
    "events": [
        {
            "id": "four-day-summit-2026",
            "title": "Four-day summit, 30 Nov – 4 Dec",
            "topics": ["days"],
            "start": "2026-11-30",
            "end": "2026-12-04",
            "location": "Online",
        },
        {
            "id": "one-day-workshop-2026",
            "title": "One-day workshop, no end given",
            "topics": ["days"],
            "timezone": "America/New_York",
            "start": "2026-06-15",
        },
        {
            "id": "one-day-fair-2026",
            "title": "One-day fair, end on the same day",
            "topics": ["days"],
            "start": "2026-06-16",
            "end": "2026-06-16",
        },
        {
            "id": "new-year-break-2026",
            "title": "Break over the new year",
            "topics": ["days"],
            "start": "2026-12-30",
            "end": "2027-01-02",
        },
        {
            "id": "leap-day-fair-2028",
            "title": "Fair to the leap day",
            "topics": ["days"],
            "timezone": "Australia/Sydney",
            "start": "2028-02-28",
            "end": "2028-02-29",
        },
        {
            "id": "sao-paulo-midnight-gap-day-2018",
            "title": "All day on the day that has no midnight in Sao Paulo",
            "topics": ["days", "dst-americas"],
            "timezone": "America/Sao_Paulo",
            "start": "2018-11-04",
        },
        {
            "id": "conference-over-the-change-2026",
            "title": "Three-day conference over the October change",
            "topics": ["days", "dst-europe"],
            "timezone": "Europe/Brussels",
            "start": "2026-10-24T09:00",
            "end": "2026-10-26T17:00",
            "sessions": [
                {
                    "id": "opening",
                    "start": "2026-10-24T09:00",
                    "end": "2026-10-24T10:30",
                    "title": "Opening",
                },
                {
                    "start": "2026-10-24T22:00",
                    "end": "2026-10-25T01:30",
                    "title": "Night shift before the change",
                },
                {
                    "id": "through-the-repeated-hour",
                    "start": "2026-10-25T02:10+02:00",
                    "end": "2026-10-25T02:40+01:00",
                    "title": "Through the repeated hour",
                },
                {
                    "id": "second-0230",
                    "start": "2026-10-25T02:30+01:00",
                    "end": "2026-10-25T03:30",
                    "title": "The second 02:30",
                },
                {
                    "id": "closing",
                    "start": "2026-10-26T16:00",
                    "end": "2026-10-26T17:00",
                    "title": "Closing",
                    "speakers": ["Ana Ñúñez", "Jean-Luc Dubois"],
                },
            ],
        },
        {
            "id": "brussels-new-year-2026",
            "title": "New Year's Eve in Brussels",
            "topics": ["days"],
            "timezone": "Europe/Brussels",
            "start": "2026-12-31T22:00",
            "end": "2027-01-01T01:00",
        },
        {
            "id": "sydney-new-year-2026",
            "title": "New Year's Eve in Sydney",
            "topics": ["days", "dst-asia-pacific"],
            "timezone": "Australia/Sydney",
            "start": "2026-12-31T20:00",
            "end": "2027-01-01T02:00",
            "sessions": [
                {
                    "id": "countdown",
                    "start": "2026-12-31T23:50",
                    "end": "2027-01-01T00:10",
                    "title": "Countdown",
                },
            ],
        },
        {
            "id": "sao-paulo-new-year-2018",
            "title": "New Year's Eve in Sao Paulo, the last summer with DST",
            "topics": ["days", "dst-americas"],
            "timezone": "America/Sao_Paulo",
            "start": "2018-12-31T20:00",
            "end": "2019-01-01T02:00",
        },
    ]
}

STATUS: dict[str, Any] = {
    "events": [
        {
            "id": "cancelled-webinar-2026",
            "title": "Webinar on tenders; postponed, then dropped",
            "topics": ["status"],
            "status": "cancelled",
            "timezone": "America/New_York",
            "start": "2026-11-02T10:00",
            "end": "2026-11-02T12:00",
            "organizer": {"name": "Buyers, Inc.", "email": "buyers@example.org"},
            "sessions": [
                {"start": "10:00", "end": "11:00", "title": "Keynote"},
                {"start": "11:00", "end": "12:00", "title": "Panel"},
            ],
        },
        {
            "id": "cancelled-fair-2026",
            "title": "Trade fair",
            "topics": ["status", "days"],
            "status": "cancelled",
            "start": "2026-05-01",
            "end": "2026-05-02",
        },
        {
            "id": "tentative-forum-2026",
            "title": "Forum, date to be confirmed",
            "topics": ["status"],
            "status": "tentative",
            "timezone": "Asia/Kolkata",
            "start": "2026-09-10T09:30",
            "end": "2026-09-10T17:00",
        },
    ]
}

# Written by hand, as an operator would: block scalars keep ; , \ as they are; the
# double-quoted scalars spell a combining accent, a ZWJ sequence and a tab as escapes.
TEXT = (
    textwrap.dedent(
        r"""
    events:
      - id: unicode-everything
        title: "Ünïcödé; title, with \\ backslash – “quotes” 🎉 \
          \U0001F469\u200D\U0001F469\u200D\U0001F467 🇧🇪 Cafe\u0301 中文 العربية"
        subtitle: "Sub; title, with \\ and no new line"
        topics: [text]
        timezone: CET
        start: "2026-07-01T10:00"
        end: "2026-07-01T12:00"
        location: "Room 1; Building B, Brussels \\ EU"
        url: "https://example.org/more?a=1&b=2"
        organizer:
          name: "Ørganisätion; Ltd., \\ Co"
          email: organiser@example.org
          url: "https://example.org/org"
        contacts:
          - name: "Zoë Ælfrida"
            role: "Press, EU; desk"
            email: zoe@example.org
            phone: "+32 2 555 01 23"
          - {name: "李小龍", phone: "+86 10 5555 0000"}
        registration: {url: "https://example.org/register?a=1&b=2", deadline: "2026-06-30T23:59"}
        description: |
          First line; with a semicolon, a comma, and a \ backslash.
          Second line: emoji 🎉🚀, a family 👩‍👩‍👧, a flag 🇸🇪, precomposed é.
          Combining: "COMBINING" and a tab:"TAB".

          After a blank line: "double quotes", 'single', <html> & ampersand.
          Right-to-left: مرحبا بالعالم; Hebrew: שלום, עולם.
          Escapes as text: \n is no newline, \, no comma, \; no semicolon, \\ two.
        sessions:
          - {start: "10:00", end: "10:30", title: "Ouverture; accueil, café ☕"}
          - id: q-and-a
            start: "11:00"
            end: "12:00"
            title: "Q&A: \\ and ; and , 🎤"
            speakers: ["Zoë Ælfrida", "李小龍"]
      - id: hostile-text
        title: "C:\\New folder \\n \\\\N; end"
        topics: [text]
        timezone: Europe/Brussels
        start: "2026-07-04T10:00"
        end: "2026-07-04T11:00"
        location: "\\\\server\\Nordic; room 2, floor \\N"
        description: "\\N at the start, \\N\\n\\N in the middle\n\ntwo LFs\u2029\u2028\
          LF\nLS\LPS\Ptab\tend \\N"
        sessions:
          - {start: "10:00", end: "10:30", title: "Q\\N&A in one line"}
      - id: no-zone-given
        title: Written without a timezone
        topics: [text]
        start: "2026-07-02T09:00"
        end: "2026-07-02T10:00"
        description: Uses site.timezone, Europe/Brussels.
    """
    )
    .replace('"COMBINING"', "Cafe\u0301 n\u0303 a\u030a")
    .replace('"TAB"', "\t")
)

LONG_RUN = "aé€😀;,\\ "  # 1, 2, 3 and 4 octets, and three characters that take an escape
LONG: dict[str, Any] = {
    "id": "very-long-lines",
    "title": "Long title " + LONG_RUN * 30 + "end",
    "topics": ["text"],
    "timezone": "Europe/Stockholm",
    "start": "2026-07-03T09:00",
    "end": "2026-07-03T10:00",
    "location": "Ö" * 120,
    "description": "x" + "aé€😀" * 300 + "\n" + (LONG_RUN * 200).strip(),
}


# A public join link, in every feed, and a private one, in personal feeds only: the link's
# query holds what LOCATION escapes and a URI does not.
PUBLIC_JOIN = "https://meet.example.org/j/4711?pwd=a;b,c"
PRIVATE_JOIN = "https://meet.example.org/j/members-room?pwd=only-for-subscribers"
ONLINE: dict[str, Any] = {
    "events": [
        {
            "id": "hybrid-forum-2026",
            "title": "Hybrid forum, in the room and online",
            "topics": ["online"],
            "timezone": "Europe/Brussels",
            "start": "2026-06-10T14:00",
            "end": "2026-06-10T16:00",
            "location": "Room 4, Square; Brussels",
            "online": {"join_url": PUBLIC_JOIN, "public": True},
            "sessions": [{"start": "14:00", "end": "15:00", "title": "Opening"}],
        },
        {
            "id": "members-webinar-2026",
            "title": "Webinar for subscribers",
            "topics": ["online", "status"],
            "timezone": "America/New_York",
            "start": "2026-06-11T10:00",
            "end": "2026-06-11T11:00",
            "location": "Online",
            "online": {"join_url": PRIVATE_JOIN},
            "sessions": [{"start": "10:00", "end": "10:30", "title": "Questions"}],
        },
        {
            "id": "online-summit-2026",
            "title": "Two-day online summit",
            "topics": ["online", "days"],
            "start": "2026-06-15",
            "end": "2026-06-16",
            "online": {"join_url": PRIVATE_JOIN + "-summit", "public": False},
        },
    ]
}


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1_000_000)


EDGE_FILES: dict[str, str] = {
    **{f"dst/{_zone_slug(zone)}.yaml": _dump(_dst_file(zone)) for zone in DST_WEEKS},
    "rules.yaml": _dump(_rules_file()),
    "days.yaml": _dump(DAYS),
    "status.yml": _dump(STATUS),
    "online.yaml": _dump(ONLINE),
    "text/unicode.yaml": TEXT,
    "text/long.yaml": _dump(LONG),
}


def write_edge_project(root: Path) -> Path:
    """Write the edge-case catalog into ``root`` (config.yaml and feeds/); return the config."""
    for name, text in EDGE_FILES.items():
        path = root / "feeds" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    config = root / "config.yaml"
    config.write_text(_dump(EDGE_CONFIG), encoding="utf-8")
    return config


# --- building feeds ------------------------------------------------------------------------

SEED = oracle.read_project(REPO / "config.yaml")
EDGE = oracle.project_from(EDGE_CONFIG, [yaml.safe_load(text) for text in EDGE_FILES.values()])
FEED_KEYS = [
    *(f"seed:{path}" for path in SEED.paths(SEED_PAIR)),
    *(f"edge:{path}" for path in EDGE.paths(EDGE_PAIR)),
]
EDGE_KEYS = [key for key in FEED_KEYS if key.startswith("edge:")]


def fixed_clock(now: datetime = FIXED) -> Callable[[], datetime]:
    """Return a clock that always says ``now``."""
    return lambda: now


def publisher(url: str, clock: Callable[[], datetime]) -> Publisher:
    """Return a publisher whose revisions live in the database at ``url``."""
    return Publisher(RevisionStore(open_database(url), clock))


def serve(edition: Edition, path: str) -> tuple[bytes, str, datetime]:
    """Return (body, etag, last_modified) of the feed a client fetches at ``path``."""
    kind, _, name = path.removesuffix(".ics").partition("/")
    feed = (
        edition.event_feed(name) if kind == "events" else edition.topic_feed(tuple(name.split("+")))
    )
    return feed.body, feed.etag, feed.last_modified


def build(
    config_path: Path, project: oracle.Project, pair: tuple[str, str], clock: Callable[[], datetime]
) -> dict[str, ServedFeed]:
    """Publish the catalog at ``config_path`` and fetch every feed, as ServedFeeds."""
    publishing = publisher("sqlite://", clock)
    edition = publishing.publish(load_catalog(config_path))
    feeds = {}
    for path in project.paths(pair):
        body, etag, last_modified = serve(edition, path)
        feeds[path] = ServedFeed(path, body, etag, last_modified, project)
    publishing.store.engine.dispose()
    return feeds


@pytest.fixture(scope="session")
def feed_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, ServedFeed]]:
    """Return every feed of the seed project and of the edge catalog, built at FIXED."""
    edge_root = tmp_path_factory.mktemp("edge")
    edge_config = write_edge_project(edge_root)
    assert oracle.read_project(edge_config) == EDGE, "the written YAML reads back as generated"
    return {
        "seed": build(REPO / "config.yaml", SEED, SEED_PAIR, fixed_clock()),
        "edge": build(edge_config, EDGE, EDGE_PAIR, fixed_clock()),
    }


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run tests that take ``feed``, ``topic_feed`` or ``event_feed`` on each such feed.

    Tests that also take ``caldav_server`` run on the edge catalog's feeds only.
    """
    kinds = {"feed": "", "topic_feed": "/feeds/", "event_feed": "/events/"}
    every = EDGE_KEYS if "caldav_server" in metafunc.fixturenames else FEED_KEYS
    for name, part in kinds.items():
        if name in metafunc.fixturenames:
            keys = [key for key in every if part in key.replace(":", "/")]
            metafunc.parametrize(name, keys, indirect=True)


def _served(
    request: pytest.FixtureRequest, feed_sets: dict[str, dict[str, ServedFeed]]
) -> ServedFeed:
    set_name, _, path = request.param.partition(":")
    return feed_sets[set_name][path]


@pytest.fixture
def feed(request: pytest.FixtureRequest, feed_sets: dict[str, dict[str, ServedFeed]]) -> ServedFeed:
    """One feed (parametrized over every feed of both sets)."""
    return _served(request, feed_sets)


@pytest.fixture
def topic_feed(
    request: pytest.FixtureRequest, feed_sets: dict[str, dict[str, ServedFeed]]
) -> ServedFeed:
    """One topic feed (all, each topic, a pair), parametrized over both sets."""
    return _served(request, feed_sets)


@pytest.fixture
def event_feed(
    request: pytest.FixtureRequest, feed_sets: dict[str, dict[str, ServedFeed]]
) -> ServedFeed:
    """One event's feed, parametrized over both sets."""
    return _served(request, feed_sets)


# --- reading feeds -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def read_feed(
    feed_sets: dict[str, dict[str, ServedFeed]], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, ServedFeed], readers.Reading]:
    """Return ``read(reader, feed)``: uid -> what ``reader`` reads of that entry in the feed.

    Each program (ical.js, libical, vobject) reads every feed of one set in one run, the first
    time it is asked, the event feeds first (paths sorted): vobject keeps the first VTIMEZONE
    it sees per TZID for the whole run, as a CalDAV server does. A missing tool skips, or
    fails when CALFEED_REQUIRE_PARSERS=1.
    """
    runs: dict[str, dict[bytes, readers.Reading] | Exception] = {}

    def run(tool: str) -> dict[bytes, readers.Reading] | Exception:
        found: dict[bytes, readers.Reading] = {}
        for set_name, feeds in feed_sets.items():
            folder = tmp_path_factory.mktemp(f"{tool.replace('.', '')}-{set_name}")
            bodies = list(dict.fromkeys(feeds[path].body for path in sorted(feeds)))
            paths = []
            for index, body in enumerate(bodies):
                paths.append(folder / f"{index}.ics")
                paths[-1].write_bytes(body)
            try:
                found.update(zip(bodies, readers.read_external(tool, paths), strict=True))
            except (readers.ToolMissing, AssertionError) as err:
                return err
        return found

    def read(reader: str, feed: ServedFeed) -> readers.Reading:
        if reader == "icalendar":
            return readers.read_icalendar(feed.body)
        if reader == "ical":
            return readers.read_ical(feed.body)
        if reader == "outlook":
            return outlook.read_outlook(feed.body)
        if reader not in runs:
            runs[reader] = run(reader)
        result = runs[reader]
        if isinstance(result, readers.ToolMissing):
            if REQUIRE_PARSERS:
                pytest.fail(f"{result}; CALFEED_REQUIRE_PARSERS=1 requires it")
            pytest.skip(f"{result}; set CALFEED_REQUIRE_PARSERS=1 to fail instead")
        if isinstance(result, Exception):
            raise result
        return result[feed.body]

    return read


@dataclass(frozen=True)
class Imported:
    """The CalDAV server, and what it serves of each feed imported into it."""

    server: caldav.CalDAVServer
    objects: dict[str, dict[str, bytes]]  # path -> uid -> object

    def collection(self, feed: ServedFeed) -> str:
        """Return the name of the collection that holds ``feed``."""
        return re.sub(r"[^a-z0-9]+", "-", feed.path.lower())


@pytest.fixture(scope="session")
def caldav_server(
    feed_sets: dict[str, dict[str, ServedFeed]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Imported]:
    """Return a Radicale server on loopback with every feed of the edge catalog imported.

    One process for the session, one collection per feed, the event feeds first. One
    catalog: the server keeps the first VTIMEZONE it sees per TZID, and only the feeds of
    one catalog agree about a zone over all the years that catalog uses (the seed catalog's
    Europe/Brussels covers 2020-2021, and would read the edge catalog's 2019 an hour off).
    A missing Radicale skips, or fails when CALFEED_REQUIRE_PARSERS=1.
    """
    try:
        server = caldav.CalDAVServer(tmp_path_factory.mktemp("radicale"))
    except readers.ToolMissing as err:
        if REQUIRE_PARSERS:
            pytest.fail(f"{err}; CALFEED_REQUIRE_PARSERS=1 requires it")
        pytest.skip(f"{err}; set CALFEED_REQUIRE_PARSERS=1 to fail instead")
    try:
        imported = Imported(server, {})
        feeds = feed_sets["edge"]
        for path in sorted(feeds):
            objects = server.import_feed(imported.collection(feeds[path]), feeds[path].body)
            imported.objects[path] = objects
        yield imported
    finally:
        server.close()


# --- golden files ------------------------------------------------------------------------

_REWRITTEN = pytest.StashKey[list[str]]()


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, bytes], None]:
    """Return ``check(name, body)``: body must equal tests/golden/<name> byte for byte.

    With CALFEED_UPDATE_GOLDEN=1 the file is rewritten instead, and the run says so.
    """

    def check(name: str, body: bytes) -> None:
        path = GOLDEN / name
        if UPDATE_GOLDEN:
            if not path.exists() or path.read_bytes() != body:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
                request.config.stash.setdefault(_REWRITTEN, []).append(name)
            return
        refresh = "CALFEED_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/calendar -k golden"
        if not path.exists():
            pytest.fail(f"tests/golden/{name} is missing; write it with: {refresh}")
        expected = path.read_bytes()
        if body != expected:
            diff = difflib.unified_diff(
                expected.decode("utf-8").splitlines(),
                body.decode("utf-8").splitlines(),
                f"tests/golden/{name}",
                "built now",
                lineterm="",
                n=1,
            )
            shown = "\n".join(list(diff)[:60])
            pytest.fail(
                f"the feed differs from tests/golden/{name}; if the change is intended, "
                f"refresh with: {refresh}\n{shown}"
            )

    return check


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say which golden files CALFEED_UPDATE_GOLDEN=1 rewrote."""
    if UPDATE_GOLDEN:
        rewritten = config.stash.get(_REWRITTEN, [])
        terminalreporter.write_sep(
            "=", f"CALFEED_UPDATE_GOLDEN=1: rewrote {len(rewritten)} feed goldens"
        )
        for name in rewritten:
            terminalreporter.write_line(f"rewrote tests/golden/{name}")


# --- projects that tests edit --------------------------------------------------------------


@pytest.fixture
def edge_project(project: Path) -> Path:
    """Write the edge-case catalog into this test's project folder; return the folder."""
    write_edge_project(project)
    return project


@pytest.fixture(scope="session")
def build_edge(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[datetime], dict[str, ServedFeed]]:
    """Return ``build(now)``: every feed of the edge catalog, published afresh at ``now``."""

    def build_at(now: datetime) -> dict[str, ServedFeed]:
        config = write_edge_project(tmp_path_factory.mktemp("edge-again"))
        return build(config, EDGE, EDGE_PAIR, fixed_clock(now))

    return build_at


@pytest.fixture
def make_publisher(tmp_path: Path) -> Iterator[Callable[..., Publisher]]:
    """Return ``make(clock, url=None)``: a publisher on a database, by default a SQLite file
    of this test, so that a second publisher on it is a restart. Engines are disposed when
    the test ends.

    Give it a clock rather than freezing time: VTIMEZONEs are cached per process, and one
    built under freezegun is wrong (its FakeDatetime drops ``fold`` in a repeated hour).
    """
    made: list[Publisher] = []

    def make(clock: Callable[[], datetime], url: str | None = None) -> Publisher:
        made.append(publisher(url or f"sqlite:///{tmp_path / 'revisions.sqlite3'}", clock))
        return made[-1]

    yield make
    for each in made:
        each.store.engine.dispose()
