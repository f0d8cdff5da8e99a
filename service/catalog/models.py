"""The catalog: validated, immutable models of the configuration and the events.

Everything past ``catalog.load`` works with these and nothing else. Times are aware
datetimes in the event's own zone; an all-day event starts at local midnight of its first day
and ends at local midnight after its last day, so that every event has two instants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

Status = Literal["confirmed", "tentative", "cancelled"]


@dataclass(frozen=True, slots=True)
class Site:
    title: str
    base_url: str
    timezone: ZoneInfo
    uid_domain: str  # in every UID: never changes, wherever the site moves
    language: str = "en"  # the site's own: of the feeds, the export, and every fallback
    languages: tuple[str, ...] = ("en",)  # offered on pages and for mails; holds language

    def language_for(self, asked: str | None) -> str:
        """Return ``asked`` if the site offers it, else the site's own language."""
        return asked if asked in self.languages else self.language


@dataclass(frozen=True, slots=True)
class Translations:
    """Texts written in languages besides the site's own: (field, language, text)."""

    texts: tuple[tuple[str, str, str], ...] = ()

    def of(self, language: str) -> dict[str, str]:
        """Return the fields given in ``language``, by name."""
        return {name: text for name, code, text in self.texts if code == language}


@dataclass(frozen=True, slots=True)
class Topic:
    slug: str
    name: str  # in the site's own language, as feeds name it
    description: str | None = None
    translations: Translations = Translations()

    def in_language(self, language: str) -> Topic:
        """Return the topic as ``language`` reads it; what it does not give stays as is."""
        given = self.translations.of(language)
        return replace(self, **given) if given else self  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class FeedSettings:
    refresh: timedelta
    keep_past_days: int | None


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Digest:
    """When a weekly digest goes out: a weekday (0 is Monday) and an hour, in a reader's zone."""

    weekday: int = 0
    hour: int = 8


@dataclass(frozen=True, slots=True)
class Choices:
    """What mail a subscriber gets: config.yaml's defaults, or what they chose."""

    per_event: bool = True  # reminders before each event's deadline and start
    digest: Digest | None = None  # a weekly digest, or none
    new_events: bool = False  # a mail when a new event appears in their topics


@dataclass(frozen=True, slots=True)
class ReminderOffsets:
    before_start: tuple[timedelta, ...]
    before_registration_deadline: tuple[timedelta, ...]
    # The day and hour a digest is offered at, and what new and listed subscribers get.
    digest: Digest = Digest()
    defaults: Choices = Choices()


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    username: str | None
    password_env: str | None
    connections: int = 1  # sent on at once by one worker


@dataclass(frozen=True, slots=True)
class MailSettings:
    sender: str
    transport: Literal["maildir", "smtp"]
    maildir: Path
    smtp: SmtpSettings


@dataclass(frozen=True, slots=True)
class SignupSettings:
    limit_per_client: str
    limit_per_address: str
    limits_storage: str


@dataclass(frozen=True, slots=True)
class ListedSubscriber:
    """A subscriber listed in config.yaml, confirmed by definition."""

    email: str
    topics: tuple[str, ...]
    timezone: ZoneInfo
    language: str | None = None  # of their mails; None: the site's own


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    site: Site
    feeds_dir: Path
    feed: FeedSettings
    database_url: str
    topics: Mapping[str, Topic]
    reminders: ReminderOffsets
    mail: MailSettings
    subscribers: tuple[ListedSubscriber, ...]
    signup: SignupSettings = SignupSettings("20/hour", "5/hour", "memory://")

    @property
    def root(self) -> Path:
        """Return the folder holding config.yaml, which relative paths start from."""
        return self.path.parent


@dataclass(frozen=True, slots=True)
class Source:
    """Where a definition was written, for messages that point back at it."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Organizer:
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    url: str | None
    deadline: datetime | None


@dataclass(frozen=True, slots=True)
class Online:
    """How to join an event from afar. A private link is for confirmed subscribers only."""

    join_url: str
    public: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    """One agenda item; its id is unique within the event and stable across edits."""

    id: str
    title: str
    start: datetime
    end: datetime
    speakers: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    title: str
    topics: tuple[str, ...]
    timezone: ZoneInfo
    start: datetime
    end: datetime
    all_day: bool
    source: Source
    subtitle: str | None = None
    status: Status = "confirmed"
    location: str | None = None
    url: str | None = None
    organizer: Organizer | None = None
    contacts: tuple[Contact, ...] = ()
    registration: Registration | None = None
    description: str | None = None
    sessions: tuple[Session, ...] = ()
    online: Online | None = None
    # Title, subtitle and description in other languages; the fields above are the site's.
    translations: Translations = Translations()

    def in_language(self, language: str) -> Event:
        """Return the event as ``language`` reads it; what it does not give stays as is."""
        given = self.translations.of(language)
        return replace(self, **given) if given else self  # type: ignore[arg-type]

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        """Return the last day the event runs on, inclusive."""
        if self.all_day:
            return self.end.date() - timedelta(days=1)
        return (self.end - timedelta(microseconds=1)).date()


@dataclass(frozen=True, slots=True)
class Catalog:
    """The configuration and every event, sorted by start then id.

    What is asked of the whole catalog on requests (an event by id, a topic's events, the
    count of sessions) is worked out here, once: a web worker that went through every event
    to answer would write to, and so copy, the memory it shares with the others.
    """

    config: Config
    events: tuple[Event, ...]
    by_id: Mapping[str, Event] = field(init=False, repr=False, compare=False)
    by_topic: Mapping[str, tuple[Event, ...]] = field(init=False, repr=False, compare=False)
    session_count: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {event.id: event for event in self.events})
        topics: dict[str, list[Event]] = {slug: [] for slug in self.config.topics}
        for event in self.events:
            for slug in dict.fromkeys(event.topics):
                topics.setdefault(slug, []).append(event)
        by_topic = {slug: tuple(events) for slug, events in topics.items()}
        object.__setattr__(self, "by_topic", by_topic)
        sessions = sum(len(event.sessions) for event in self.events)
        object.__setattr__(self, "session_count", sessions)
