"""Turn validated specs into the catalog's models, checking the rules that span fields.

Here a local time becomes an instant in its zone, an end is checked against its start, a
session is placed on its event's day and inside it, topics are checked against config.yaml,
and relative paths are anchored at the folder holding config.yaml. Problems are collected,
never raised one by one, so that an operator sees every mistake in one run.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import Problem
from . import localtime, values
from .models import (
    WEEKDAYS,
    Choices,
    Config,
    Contact,
    Digest,
    Event,
    FeedSettings,
    ListedSubscriber,
    MailSettings,
    Online,
    Organizer,
    Registration,
    ReminderOffsets,
    Session,
    SignupSettings,
    Site,
    SmtpSettings,
    Source,
    Topic,
    Translations,
)
from .schema import ConfigSpec, EventSpec, SessionSpec
from .source import Document, Loc, shown
from .uids import check_uids, session_id_of

T = TypeVar("T")
P = ParamSpec("P")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Past this many problems in one file, checking it stops: the first ones are what to fix, and
# a file of a hundred thousand mistakes must not take minutes to list them.
MAX_PROBLEMS = 100


class Checker:
    """Collect problems at locations of one document."""

    def __init__(self, doc: Document, base: Loc, problems: list[Problem]) -> None:
        self.doc, self.base, self.problems = doc, base, problems

    def fail(self, loc: Loc, message: str, line_of: Loc | None = None) -> None:
        """Record a problem at ``loc``, on the line of ``line_of`` when ``loc`` has none."""
        problem = self.doc.problem((*self.base, *loc), message)
        if line_of is not None:
            problem = replace(problem, line=self.doc.line((*self.base, *line_of)))
        self.problems.append(problem)

    @property
    def full(self) -> bool:
        """Return True once the file has more problems than are worth checking for."""
        return len(self.problems) > MAX_PROBLEMS

    def attempt(
        self, loc: Loc, parse: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T | None:
        """Return ``parse(*args, **kwargs)``; a ValueError becomes a problem at ``loc``."""
        try:
            return parse(*args, **kwargs)
        except ValueError as err:
            self.fail(loc, str(err))
            return None


# config.yaml


def build_config(spec: ConfigSpec, path: Path, check: Checker) -> Config | None:
    """Build the Config from its spec, or return None after recording problems."""
    root = path.parent
    site_zone = check.attempt(("site", "timezone"), values.zone, spec.site.timezone)
    feeds_dir = root / spec.feeds_dir
    if not feeds_dir.is_dir():
        check.fail(("feeds_dir",), f"folder {shown(feeds_dir.resolve())!r} does not exist")
    database = check.attempt(("database",), _database_url, spec.database, root)
    password_env = spec.mail.smtp.password_env
    if password_env is not None and not _ENV_NAME.fullmatch(password_env):
        check.fail(
            ("mail", "smtp", "password_env"),
            "must name an environment variable that holds the password, not the password",
        )
    offsets = ReminderOffsets(
        _unique_offsets(spec.reminders.before_start, ("reminders", "before_start"), check),
        _unique_offsets(
            spec.reminders.before_registration_deadline,
            ("reminders", "before_registration_deadline"),
            check,
        ),
        *_digest_choices(spec, check),
    )
    languages = site_languages(spec.site.language, spec.site.languages, check)
    topics = {}
    for slug, t in spec.topics.items():
        loc = ("topics", slug)
        name, names = in_languages(t.name, (*loc, "name"), languages, check)
        description, descriptions = in_languages(
            t.description, (*loc, "description"), languages, check
        )
        translations = Translations(
            tuple(("name", code, text) for code, text in names)
            + tuple(("description", code, text) for code, text in descriptions)
        )
        topics[slug] = Topic(slug, name or "invalid name", description, translations)
    subscribers = _subscribers(spec, site_zone, topics, check, languages)
    if site_zone is None or database is None or subscribers is None:
        return None
    smtp = spec.mail.smtp
    return Config(
        path=path,
        site=Site(
            spec.site.title,
            spec.site.base_url.rstrip("/"),
            site_zone,
            spec.site.uid_domain or urlsplit(spec.site.base_url).hostname or "localhost",
            languages[0],
            languages,
        ),
        feeds_dir=feeds_dir,
        feed=FeedSettings(spec.feed.refresh, spec.feed.keep_past_days),
        database_url=database,
        topics=topics,
        reminders=offsets,
        mail=MailSettings(
            sender=spec.mail.sender,
            transport=spec.mail.transport,
            maildir=root / spec.mail.maildir,
            smtp=SmtpSettings(
                smtp.host, smtp.port, smtp.starttls, smtp.username, password_env, smtp.connections
            ),
        ),
        subscribers=subscribers,
        signup=SignupSettings(
            spec.signup.limit_per_client,
            spec.signup.limit_per_address,
            spec.signup.limits_storage,
        ),
    )


def _digest_choices(spec: ConfigSpec, check: Checker) -> tuple[Digest, Choices]:
    """Return the digest's day and hour, and the choices new subscribers start with."""
    given = spec.reminders
    digest = Digest(WEEKDAYS.index(given.digest.weekday), given.digest.hour)
    chosen = given.defaults
    if not (chosen.per_event or chosen.digest):
        check.fail(
            ("reminders", "defaults", "per_event"),
            "a subscriber would get no reminder at all: set per_event or digest to true",
        )
    defaults = Choices(chosen.per_event, digest if chosen.digest else None, chosen.new_events)
    return digest, defaults


def site_languages(language: str, languages: list[str] | None, check: Checker) -> tuple[str, ...]:
    """Return the languages the site offers, its own first (default: every one it has)."""
    offered = list(dict.fromkeys(languages if languages is not None else values.LANGUAGES))
    if languages is not None:
        for index, code in enumerate(languages):
            if code in languages[:index]:
                check.fail(("site", "languages", index), f"{code!r} is listed twice")
        if language not in offered:
            check.fail(
                ("site", "languages"),
                f"must hold site.language ({language!r}): pages fall back to it",
            )
    return (language, *(code for code in offered if code != language))


def in_languages(
    given: str | dict[str, str] | None, loc: Loc, languages: tuple[str, ...], check: Checker
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """Return a text in the site's language and its translations, as (language, text).

    A plain text is in the site's language. A mapping must give that one and may give the
    others the site offers (``languages``, the site's own first); any other is an error.
    """
    if given is None or isinstance(given, str):
        return given, ()
    own = languages[0]
    for code in given:
        if code not in languages:
            check.fail(
                loc,
                f'language "{code}" is not one of site.languages ({", ".join(languages)})',
                line_of=(*loc, code),
            )
    if own not in given:
        check.fail(
            loc,
            f'gives no text in the site\'s language "{own}", which every other falls back to',
        )
        return None, ()
    others = tuple((code, text) for code, text in given.items() if code != own)
    return given[own], others


def _database_url(text: str, root: Path) -> str:
    try:
        url = make_url(text)
    except ArgumentError as err:
        raise ValueError(
            f"{text!r} is not a database URL such as sqlite:///var/calfeed.sqlite3"
        ) from err
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"{url.get_backend_name()!r} is not supported: use sqlite or postgresql")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(root / str(url.database)))
    return url.render_as_string(hide_password=False)


def _unique_offsets(offsets: list[timedelta], loc: Loc, check: Checker) -> tuple[timedelta, ...]:
    seen: set[timedelta] = set()
    for index, offset in enumerate(offsets):
        if offset in seen:
            check.fail((*loc, index), f"{values.format_duration(offset)} is listed twice")
        seen.add(offset)
    return tuple(sorted(seen, reverse=True))


def _subscribers(
    spec: ConfigSpec,
    site_zone: ZoneInfo | None,
    topics: Mapping[str, Topic],
    check: Checker,
    languages: tuple[str, ...],
) -> tuple[ListedSubscriber, ...] | None:
    result: list[ListedSubscriber] = []
    seen: dict[str, int] = {}
    for index, sub in enumerate(spec.subscribers):
        if check.full:
            return None
        loc: Loc = ("subscribers", index)
        if sub.email.lower() in seen:
            check.fail(
                (*loc, "email"),
                f"{sub.email} is listed twice (also at index {seen[sub.email.lower()]})",
            )
        seen.setdefault(sub.email.lower(), index)
        zone = check.attempt((*loc, "timezone"), values.zone, sub.timezone, site_zone)
        _check_topics(sub.topics, topics, (*loc, "topics"), check)
        if sub.language is not None and sub.language not in languages:
            check.fail(
                (*loc, "language"),
                f'language "{sub.language}" is not one of site.languages ({", ".join(languages)})',
            )
        if zone is not None:
            result.append(
                ListedSubscriber(sub.email, tuple(dict.fromkeys(sub.topics)), zone, sub.language)
            )
    return tuple(result) if len(result) == len(spec.subscribers) else None


def _check_topics(
    slugs: list[str], topics: Mapping[str, Any] | None, loc: Loc, check: Checker
) -> None:
    seen: set[str] = set()
    for index, slug in enumerate(slugs):
        if check.full:
            return
        if slug in seen:
            check.fail((*loc, index), f"{slug!r} is listed twice")
        seen.add(slug)
        if topics is not None and slug not in topics:
            close = difflib.get_close_matches(slug, list(topics), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"declared: {_some(topics)}"
            check.fail((*loc, index), f"topic {slug!r} is not declared in config.yaml; {hint}")


def _some(names: Mapping[str, Any], shown: int = 10) -> str:
    """List the first few names, and how many there are when there are more."""
    listed = ", ".join(list(names)[:shown])
    return listed if len(names) <= shown else f"{listed}, ... ({len(names)} in all)"


# Events


def build_event(
    spec: EventSpec,
    site_zone: ZoneInfo,
    topics: Mapping[str, Any] | None,
    check: Checker,
    room: int,
    languages: tuple[str, ...] = values.LANGUAGES,
) -> Event | None:
    """Build one Event from its spec, or return None after recording problems.

    ``room`` is how many characters the event's ids may take in a calendar UID;
    ``languages`` are those the site offers, its own first.
    """
    before = len(check.problems)
    texts = {}
    translations: list[tuple[str, str, str]] = []
    for name in ("title", "subtitle", "description"):
        own, others = in_languages(getattr(spec, name), (name,), languages, check)
        texts[name] = own
        translations += [(name, code, text) for code, text in others]
    _check_topics(spec.topics, topics, ("topics",), check)
    check_uids(spec, room, check)
    zone = site_zone
    if spec.timezone is not None:
        zone = check.attempt(("timezone",), values.zone, spec.timezone, site_zone) or site_zone
    span = _span(spec, zone, check)
    registration = None
    if spec.registration is not None:
        deadline = None
        if spec.registration.deadline is not None:
            deadline = check.attempt(
                ("registration", "deadline"),
                _deadline,
                spec.registration.deadline,
                zone,
            )
            if deadline is not None and span is not None and _utc(deadline) > _utc(span[1]):
                check.fail(("registration", "deadline"), "closes after the event ends")
        registration = Registration(spec.registration.url, deadline)
    sessions = _sessions(spec.sessions, zone, span, check) if span else ()
    if span is None or len(check.problems) > before:
        return None
    start, end, all_day = span
    return Event(
        id=spec.id,
        title=texts["title"] or "",
        topics=tuple(spec.topics),
        timezone=zone,
        start=start,
        end=end,
        all_day=all_day,
        source=Source(check.doc.path, check.doc.line(check.base)),
        subtitle=texts["subtitle"],
        status=spec.status,
        location=spec.location,
        url=spec.url,
        organizer=Organizer(spec.organizer.name, spec.organizer.email, spec.organizer.url)
        if spec.organizer
        else None,
        contacts=tuple(Contact(c.name, c.role, c.email, c.phone) for c in spec.contacts),
        registration=registration,
        description=texts["description"],
        sessions=sessions,
        online=Online(spec.online.join_url, spec.online.public) if spec.online else None,
        translations=Translations(tuple(translations)),
    )


def _span(
    spec: EventSpec, zone: ZoneInfo, check: Checker
) -> tuple[datetime, datetime, bool] | None:
    """Return the event's start and (exclusive) end instants and whether it is all-day."""
    if isinstance(spec.start, datetime):
        start = check.attempt(("start",), localtime.resolve, spec.start, zone)
        if spec.end is None:
            check.fail(("end",), "required for an event with a start time", line_of=("start",))
            return None
        if not isinstance(spec.end, datetime):
            check.fail(
                ("end",), f"must be a date-time like start, e.g. {spec.start:%Y-%m-%d}T16:00"
            )
            return None
        end = check.attempt(("end",), localtime.resolve, spec.end, zone)
        if start is None or end is None:
            return None
        if _utc(end) <= _utc(start):
            check.fail(("end",), f"ends before start ({_show(end)} is not after {_show(start)})")
            return None
        return start, end, False
    last = spec.end if spec.end is not None else spec.start
    if isinstance(last, datetime):
        check.fail(("end",), "must be a plain date like start: the last day of an all-day event")
        return None
    if last < spec.start:
        check.fail(
            ("end",), f"ends before start (last day {last} is before first day {spec.start})"
        )
        return None
    return day_start(spec.start, zone), day_start(last + timedelta(days=1), zone), True


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Return the first instant of ``day`` in ``zone`` (after midnight if a change skips it)."""
    midnight = datetime.combine(day, time(), tzinfo=zone)
    return midnight.astimezone(ZoneInfo("UTC")).astimezone(zone)


def _deadline(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return localtime.resolve(value, zone)
    return day_start(value + timedelta(days=1), zone)  # a date closes at the end of that day


def _sessions(
    specs: list[SessionSpec],
    zone: ZoneInfo,
    span: tuple[datetime, datetime, bool],
    check: Checker,
) -> tuple[Session, ...]:
    event_start, event_end, _ = span
    result: list[Session] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        loc: Loc = ("sessions", index)
        start = check.attempt((*loc, "start"), _session_time, spec.start, event_start, zone)
        end = check.attempt((*loc, "end"), _session_time, spec.end, event_start, zone)
        session_id = spec.id or session_id_of(spec.title)
        if session_id in seen:
            where = "id" if spec.id else "title"
            check.fail(
                (*loc, where),
                f"session id {session_id!r} is also used by sessions[{seen[session_id]}]; "
                "give one of them its own id",
            )
        seen.setdefault(session_id, index)
        if start is None or end is None:
            continue
        if _utc(end) <= _utc(start):
            check.fail(
                (*loc, "end"), f"ends before start ({_show(end)} is not after {_show(start)})"
            )
        elif _utc(start) < _utc(event_start):
            check.fail((*loc, "start"), f"starts before the event ({_show(event_start)})")
        elif _utc(end) > _utc(event_end):
            check.fail((*loc, "end"), f"ends after the event ({_show(event_end)})")
        else:
            speakers = tuple(spec.speakers)
            result.append(Session(session_id, spec.title, start, end, speakers, spec.description))
    return tuple(result)


def _session_time(value: time | date | datetime, event_start: datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return localtime.resolve(value, zone)
    if isinstance(value, time):
        return localtime.resolve(datetime.combine(event_start.date(), value), zone)
    raise ValueError(f"{value} is a date without a time: write HH:MM or a date-time")


def _utc(moment: datetime) -> datetime:
    # Aware datetimes in one zone compare by wall time, blind to which 02:30 of a repeated
    # hour they are; in UTC they compare as the instants they are.
    return moment.astimezone(UTC)


def _show(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="minutes")
