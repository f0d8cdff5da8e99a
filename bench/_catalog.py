"""Synthetic projects for the benchmarks: config.yaml and event files as an operator writes them.

Every benchmark works on a folder laid out like a real project (``config.yaml``, ``feeds/``,
a SQLite database under ``var/``), so that it reaches calfeed only through its own files and
commands. The events are varied the way real ones are: several zones, agendas, descriptions,
non-ASCII text, some all-day events, some with a registration deadline; ten events a file.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ZONES = (
    "Europe/Brussels",
    "Europe/Stockholm",
    "Europe/Lisbon",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "UTC",
)
TOPICS = tuple(f"t{i}" for i in range(10))
PER_FILE = 10
BASE_URL = "https://events.example.org"
DATABASE = "var/bench.sqlite3"  # relative to config.yaml, as the README allows
FEEDS_FROM = datetime(2026, 1, 5, 9, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    """A subscriber listed in config.yaml (confirmed by definition)."""

    email: str
    topics: tuple[str, ...]
    zone: str


@dataclass(frozen=True)
class Event:
    """One synthetic event; ``start`` is aware, ``all_day`` events keep only its date."""

    index: int
    start: datetime
    zone: str
    topics: tuple[str, ...]
    hours: int = 3
    all_day: bool = False
    deadline: datetime | None = None
    sessions: bool = True
    title: str = ""

    @property
    def id(self) -> str:
        return f"event-{self.index}"

    def lines(self) -> list[str]:
        """Return the event as an item of an ``events:`` list in YAML."""
        local = self.start.astimezone(ZoneInfo(self.zone))
        title = self.title or f"Event {self.index}: sustainable procurement, café ☕"
        lines = [
            f"  - id: {self.id}",
            f"    title: '{title}'",
            f"    topics: [{', '.join(self.topics)}]",
            f"    timezone: {self.zone}",
        ]
        if self.all_day:
            first: date = local.date()
            lines += [f"    start: '{first}'", f"    end: '{first + timedelta(days=1)}'"]
        else:
            end = local + timedelta(hours=self.hours)
            form = "%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M"
            lines += [f"    start: '{local:{form}}'", f"    end: '{end:{form}}'"]
        lines += [
            "    location: Online",
            "    description: |",
            "      A webinar on buying for sustainability; with agenda, speakers, questions.",
            "      Second paragraph: what to read before, and who to ask (Zoë, Łukasz, 田中).",
        ]
        if self.deadline is not None:
            deadline = self.deadline.astimezone(ZoneInfo(self.zone))
            lines += [
                "    registration:",
                f"      url: {BASE_URL}/register/{self.index}",
                f"      deadline: '{deadline:%Y-%m-%dT%H:%M}'",
            ]
        if self.sessions and not self.all_day and self.hours >= 2:
            middle = local + timedelta(hours=1)
            end = local + timedelta(hours=self.hours)
            # HH:MM on the start day, full date-times for an agenda that runs past midnight.
            form = "%H:%M" if end.date() == local.date() else "%Y-%m-%dT%H:%M"
            lines += [
                "    sessions:",
                f"      - {{start: '{local:{form}}', end: '{middle:{form}}', title: Welcome, "
                "speakers: [A. Speaker, B. Sprecher]}",
                f"      - {{start: '{middle:{form}}', end: '{end:{form}}', title: Discussion}}",
            ]
        return lines


@dataclass
class Project:
    """A project folder: what it holds and where its files are."""

    root: Path
    events: list[Event]
    people: list[Person] = field(default_factory=list)
    smtp_port: int | None = None
    before_start: Sequence[str] = ("7d", "1d", "1h")
    before_deadline: Sequence[str] = ("3d", "1d")
    smtp_connections: int = 1  # mail.smtp.connections
    # site.languages: English alone unless said, as the peers write one language.
    languages: Sequence[str] = ("en",)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def database(self) -> Path:
        return self.root / DATABASE

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    def outbox_rows(self, status: str | None = None) -> int:
        """Count the rows of the outbox (in ``status``); 0 before the schema exists."""
        query = "SELECT count(*) FROM outbox" + (" WHERE status = :status" if status else "")
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                found = connection.execute(sa.text(query), {"status": status}).scalar_one()
                return int(found)
        except sa.exc.OperationalError:
            return 0  # no database or schema yet, or a writer holds the lock
        finally:
            engine.dispose()

    def write(self) -> Project:
        """Write config.yaml and every event file; return self."""
        (self.root / "feeds").mkdir(parents=True, exist_ok=True)
        self.write_config()
        for number in range(0, len(self.events), PER_FILE):
            self.write_file(number // PER_FILE)
        return self

    def write_config(self) -> None:
        """Write config.yaml: ten topics, the reminder offsets, mail, the subscribers."""
        lines = [
            f"site: {{title: Bench events, base_url: '{BASE_URL}', timezone: Europe/Brussels, "
            f"languages: [{', '.join(self.languages)}]}}",
            f"database: sqlite:///{DATABASE}",
            "topics:",
            *(
                f"  {slug}: {{name: Topic {slug[1:]}, description: About {slug}}}"
                for slug in TOPICS
            ),
            "reminders:",
            f"  before_start: [{', '.join(self.before_start)}]",
            f"  before_registration_deadline: [{', '.join(self.before_deadline)}]",
            "mail:",
            "  from: Bench Events <events@example.org>",
        ]
        if self.smtp_port is not None:
            smtp = f"host: 127.0.0.1, port: {self.smtp_port}, connections: {self.smtp_connections}"
            lines += ["  transport: smtp", f"  smtp: {{{smtp}}}"]
        if self.people:
            lines.append("subscribers:")
            lines += [
                f"  - {{email: {p.email}, topics: [{', '.join(p.topics)}], timezone: {p.zone}}}"
                for p in self.people
            ]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def file_of(self, event: Event) -> Path:
        """Return the file that holds ``event``."""
        return self.root / "feeds" / f"events-{event.index // PER_FILE:05d}.yaml"

    def write_file(self, number: int) -> Path:
        """Write event file ``number`` from the events it holds."""
        held = self.events[number * PER_FILE : (number + 1) * PER_FILE]
        path = self.file_of(held[0])
        lines = ["events:", *(line for event in held for line in event.lines())]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def replace(self, event: Event) -> Path:
        """Save an edit: ``event`` takes the place of the one with its index; return the file."""
        self.events[event.index] = event
        return self.write_file(event.index // PER_FILE)

    def copy(self, root: Path) -> Project:
        """Copy the operator's files (not the database) to ``root``; return that project."""
        shutil.copytree(self.root / "feeds", root / "feeds")
        shutil.copy(self.config, root / "config.yaml")
        return Project(
            root,
            list(self.events),
            list(self.people),
            self.smtp_port,
            self.before_start,
            self.before_deadline,
            self.smtp_connections,
        )


def people(count: int, seed: int = 5545) -> list[Person]:
    """Return ``count`` subscribers with one to three topics each, in various zones."""
    rng = random.Random(seed)
    return [
        Person(
            f"person{i}@example.org",
            tuple(sorted(rng.sample(TOPICS, rng.randint(1, 3)))),
            ZONES[i % len(ZONES)],
        )
        for i in range(count)
    ]


def feed_events(count: int, first: datetime = FEEDS_FROM, seed: int = 5545) -> list[Event]:
    """Return ``count`` events over two years from ``first``: one in ten all day."""
    rng = random.Random(seed)
    return [
        Event(
            index,
            first + timedelta(days=index % 700, hours=rng.randrange(0, 9)),
            ZONES[index % len(ZONES)],
            _topics(index),
            all_day=index % 10 == 9,
        )
        for index in range(count)
    ]


def planned_events(count: int, first: datetime, days: int, seed: int = 5545) -> list[Event]:
    """Return ``count`` events starting over ``days`` days from ``first``, a third with a
    registration deadline one, two or five days before the start."""
    rng = random.Random(seed)
    events = []
    for index in range(count):
        start = first + timedelta(minutes=15 * rng.randrange(0, 4 * 24 * days)) if index else first
        deadline = start - timedelta(days=rng.choice([1, 2, 5])) if index % 3 == 0 else None
        topics = tuple(sorted(rng.sample(TOPICS, rng.randint(1, 2))))
        events.append(Event(index, start, ZONES[index % len(ZONES)], topics, deadline=deadline))
    return events


def _topics(index: int) -> tuple[str, ...]:
    return tuple(sorted({f"t{index % 10}", f"t{(index + 1 + index % 3) % 10}"}))
