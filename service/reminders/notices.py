"""Change notices: one mail to each follower when an event's date, time, zone or place moves.

What subscribers were last told of an event (its ``State``: start, end, zone, place) is kept
in the database (``event_states``), beside what the worker last saw. An edit that changes the
state starts a quiet period of ``QUIET``; each further edit starts it again. Once the event
has been still that long and its state is not the one subscribers were last told, one notice
is planned: a row in ``change_notices`` saying what it was and what it is, and a row in the
outbox for each confirmed subscriber of the event's topics who has not turned notices off.
An edit reverted within the quiet period leaves the state as told, and plans nothing.

The outbox does the rest, as for reminders: a unique key (subscriber, event, ``moved``, the
notice's number, the event's end), leases, and a check right before the data goes that the
person is still subscribed and wants notices. Every notice says the change it announces,
from one told state to the next, so a person who gets two (one in retry when the next is
planned) reads each as true. A notice is about an event still ahead: one whose end has
passed is not sent, and an ended event plans none. A cancelled event gets no change notice;
its cancellation notice is the planner's (``planner``).

Several workers may plan at once: the state row changes under a compare-and-set on its
count of notices, so one of them plans each notice, and the outbox key keeps it single.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from .. import language as words
from ..calendar.edition import Edition
from ..calendar.entries import event_page, join_url
from ..catalog import Catalog, Config, Event
from ..store.database import insert
from ..store.tables import change_notices, event_states, subscribers
from . import mail
from .outbox import Claimed
from .planner import insert_planned
from .subscribers import Subscriber

log = logging.getLogger(__name__)

KIND = "moved"  # the outbox's kind of a change notice
# How long an event must be still after an edit before its notice is planned. With the
# worker's 30-second sweep a notice leaves at most some two and a half minutes after the
# last edit.
QUIET = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class State:
    """What a change notice is about: when an event is, in which zone, and where."""

    start: datetime
    end: datetime
    all_day: bool
    timezone: str
    location: str | None

    @classmethod
    def of(cls, event: Event) -> State:
        """Return the state of ``event`` as it is now."""
        return cls(event.start, event.end, event.all_day, event.timezone.key, event.location)

    @classmethod
    def read(cls, text: str) -> State:
        """Return the state stored as ``text``."""
        data = json.loads(text)
        zone = ZoneInfo(data["timezone"])
        return cls(
            datetime.fromisoformat(data["start"]).astimezone(zone),
            datetime.fromisoformat(data["end"]).astimezone(zone),
            bool(data["all_day"]),
            data["timezone"],
            data["location"],
        )

    def text(self) -> str:
        """Return the state as stored: the same state always reads the same."""
        return json.dumps(
            {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "all_day": self.all_day,
                "timezone": self.timezone,
                "location": self.location,
            },
            sort_keys=True,
        )

    def on(self, event: Event) -> Event:
        """Return ``event`` as it is in this state (its times, zone and place)."""
        return replace(
            event,
            start=self.start,
            end=self.end,
            all_day=self.all_day,
            timezone=ZoneInfo(self.timezone),
            location=self.location,
        )

    def moved_from(self, before: State) -> bool:
        """Tell whether the event is at another time (or in another zone) than ``before``."""
        return (self.start, self.end, self.all_day, self.timezone) != (
            before.start,
            before.end,
            before.all_day,
            before.timezone,
        )


class NoticePlanner:
    """Watch each event's state across sweeps and plan a notice once an edit has settled.

    It keeps the state each event was last seen in, as the database has it, so a sweep with
    an unchanged catalog only asks the database which events wait for their quiet period.
    """

    def __init__(self, quiet: timedelta = QUIET) -> None:
        self.quiet = quiet
        self._catalog: Catalog | None = None
        self._events: dict[str, Event] = {}
        self._seen: dict[str, str] | None = None  # event id -> its stored ``seen``

    def sweep(self, engine: sa.Engine, catalog: Catalog, now: datetime) -> int:
        """Record what changed in ``catalog``, plan the notices due at ``now``; count mails."""
        now = now.astimezone(UTC)
        if catalog is not self._catalog:
            self._look(engine, catalog, now)
        planned = 0
        with engine.begin() as connection:
            rows = connection.execute(
                sa.select(event_states).where(
                    event_states.c.changed_at.is_not(None),
                    event_states.c.seen_at <= now - self.quiet,
                )
            ).all()
            for row in rows:
                planned += self._plan(connection, catalog, row, now)
        return planned

    def _look(self, engine: sa.Engine, catalog: Catalog, now: datetime) -> None:
        """Record the state of each event that changed since the last look."""
        with engine.begin() as connection:
            if self._seen is None:
                query = sa.select(event_states.c.event_id, event_states.c.seen)
                self._seen = {row.event_id: row.seen for row in connection.execute(query)}
            new = []
            # The live catalog keeps the objects of events whose files did not change.
            for event in catalog.events:
                if self._events.get(event.id) is event:
                    continue
                text = State.of(event).text()
                if event.id not in self._seen:
                    new.append({"event_id": event.id, "told": text, "seen": text})
                elif self._seen[event.id] != text:
                    _see(connection, event.id, text, now)
                self._seen[event.id] = text
            if new:  # first seen: what their subscribers are told at first
                first = {"seen_at": now, "changed_at": None, "notices": 0}
                statement = insert(connection, event_states).on_conflict_do_nothing()
                connection.execute(statement, [{**row, **first} for row in new])
        self._catalog, self._events = catalog, dict(catalog.by_id)

    def _plan(self, connection: sa.Connection, catalog: Catalog, row: Any, now: datetime) -> int:
        """Plan the notice of one event whose edit has settled; return how many mails."""
        event = catalog.by_id.get(row.event_id)
        if event is None or State.of(event).text() != row.seen:
            return 0  # gone, or this worker has not read the edit yet: the next sweep looks
        state = event_states.c
        settled = (
            event_states.update()
            .where(
                state.event_id == row.event_id,
                state.notices == row.notices,
                state.seen == row.seen,
            )
            .values(told=row.seen, changed_at=None)
        )
        if event.end <= now:  # nothing to tell about an event that is over
            connection.execute(settled)
            return 0
        if event.status != "confirmed":
            return 0  # cancelled (its own notice) or tentative: told once confirmed again
        number = row.notices + 1
        if not connection.execute(settled.values(notices=number)).rowcount:
            return 0  # another worker planned it
        connection.execute(
            insert(connection, change_notices)
            .values(event_id=row.event_id, number=number, planned_at=now)
            .values(before=row.told, after=row.seen)
            .on_conflict_do_nothing()
        )
        audience = _audience(connection, event, row.changed_at)
        end = event.end.astimezone(UTC)
        keys = [((person, event.id, KIND, number, end), now) for person in audience]
        log.info("event %s changed: notice %d to %d subscribers", event.id, number, len(keys))
        return insert_planned(connection, keys)


def _see(connection: sa.Connection, event_id: str, text: str, now: datetime) -> None:
    """Record that ``event_id`` is in the state ``text`` (as JSON) from ``now``."""
    row = connection.execute(
        sa.select(event_states).where(event_states.c.event_id == event_id).with_for_update()
    ).first()
    if row is not None and row.seen != text:
        # Back to what they were told: nothing to tell. Otherwise the quiet period starts again.
        changed_at = None if text == row.told else (row.changed_at or now)
        connection.execute(
            event_states.update()
            .where(event_states.c.event_id == event_id)
            .values(seen=text, seen_at=now, changed_at=changed_at)
        )


def _audience(connection: sa.Connection, event: Event, since: datetime) -> list[int]:
    """Return who hears of the change: confirmed before it, following a topic, wanting to."""
    rows = connection.execute(
        sa.select(subscribers.c.id, subscribers.c.topics).where(
            subscribers.c.status == "confirmed",
            subscribers.c.change_notices.is_(True),
            sa.or_(subscribers.c.confirmed_at.is_(None), subscribers.c.confirmed_at <= since),
        )
    )
    topics = set(event.topics)
    return [row.id for row in rows if topics.intersection(row.topics.split())]


# At send time.


def no_longer_wanted(person: Subscriber, event: Event) -> str | None:
    """Return why a confirmed subscriber must not get a notice about ``event`` now."""
    if not person.change_notices:
        return "subscriber turned change notices off"
    if not set(event.topics).intersection(person.topics):
        return "subscriber left the event's topics"
    return None


@dataclass(frozen=True, slots=True)
class Change:
    """One notice as its recipient reads it: the event before and after, in their zone."""

    email: str
    timezone: ZoneInfo
    before: Event
    after: Event
    language: str | None = None  # the subscriber's; None: the site's own


def render(
    row: Claimed,
    person: Subscriber,
    edition: Edition,
    engine: sa.Engine,
    links: mail.Links,
    now: datetime,
) -> tuple[EmailMessage, str]:
    """Compose the notice of ``row`` for ``person``; return it and its Message-ID."""
    with engine.connect() as connection:
        told = connection.execute(
            sa.select(change_notices.c.before, change_notices.c.after).where(
                change_notices.c.event_id == row.event_id,
                change_notices.c.number == row.offset_seconds,
            )
        ).one()
    event = edition.catalog.by_id[row.event_id]
    config = edition.catalog.config
    change = Change(
        person.email,
        person.timezone,
        State.read(told.before).on(event),
        State.read(told.after).on(event),
        person.language,
    )
    identity = message_id(person.id, row.event_id, row.offset_seconds, told.after, config)
    # A confirmed subscriber's calendar entry: with the private join link, if there is one.
    in_theirs = edition.in_language(config.site.language_for(person.language))
    ics = in_theirs.subscriber_event_feed(event.id).body
    return compose(change, config, ics=ics, links=links, message_id=identity, now=now), identity


def message_id(subscriber_id: int, event_id: str, number: int, after: str, config: Config) -> str:
    """Return the Message-ID of a notice: who, which event, which notice, the state it tells.

    The number tells apart a move back to a state told before, which mail clients would
    otherwise take for the earlier notice again.
    """
    return mail.derived_message_id(
        "notice", f"{subscriber_id}|{event_id}|{KIND}|{number}|{after}", config
    )


def compose(
    change: Change,
    config: Config,
    *,
    ics: bytes,
    links: mail.Links,
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """Build the notice for ``change``'s recipient, as it would be sent at ``now``."""
    language = config.site.language_for(change.language)
    said = words.translations(language)
    before, after = change.before.in_language(language), change.after.in_language(language)
    was, now_is = State.of(change.before), State.of(change.after)
    moved = now_is.moved_from(was)
    changed = []
    if (was.start, was.end, was.all_day) != (now_is.start, now_is.end, now_is.all_day):
        changed.append(said.gettext("the date and time"))
    if was.timezone != now_is.timezone:
        changed.append(said.gettext("the time zone"))
    if was.location != now_is.location:
        changed.append(said.gettext("the place"))
    page = event_page(after, config)
    topics = [config.topics[slug] for slug in after.topics if slug in config.topics]
    context = {
        "site": config.site,
        "language": language,
        "event": after,
        "moved": moved,
        "changed": changed,
        "was": mail.event_times(before, change.timezone, language),
        "when": mail.event_times(after, change.timezone, language),
        "old_location": before.location,
        "place_changed": was.location != now_is.location,
        "topics": [topic.in_language(language).name for topic in topics],
        "page_url": page,
        "ics_url": page + ".ics",
        "join_url": join_url(after, private=True),
        "links": links,
    }
    title = {"title": after.title}
    if moved:
        subject = said.gettext("Moved: %(title)s") % title
    else:
        subject = said.gettext("New place: %(title)s") % title
    return mail.write_mail(
        "notice",
        context,
        language,
        subject=subject,
        to=change.email,
        config=config,
        message_id=message_id,
        links=links,
        now=now,
        calendar=(after.id, ics),
    )
