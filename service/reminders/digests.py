"""Weekly digests and new-event mails: the mail a subscriber chooses beside reminders.

A digest goes out once a week, at the weekday and hour a subscriber chose, in their own zone
(an hour their zone skips that day: the first instant after the jump; an hour it has twice:
the first). It lists what comes in their topics until the next digest: registration
deadlines first, then starts. A digest with nothing to list is not sent: its row is recorded
as skipped, with the reason, so ``calfeed reminders`` shows it.

A new-event mail goes out once per event that is first published (``store.publications``)
after the subscriber chose such mail and confirmed, in one of their topics, while it is
still ahead and not cancelled. It attaches the event's ``.ics``, like a reminder.

Both go through the outbox with the reminders' leases and checks. A digest's row names its
ISO week in ``event_id`` (``2026-W49``); a week has at most one digest sent, whatever the
subscriber changes meanwhile. A worker that was down sends the digest it missed while it is
less than a day late (``target_at``); a later one is skipped, for the next one is near. A new-event
mail's row names the event and the start it was first published with, which never changes,
so it is planned once. The ``DigestPlanner`` plans both after each sweep of the reminder
planner: for the subscribers that sweep saw change, for every subscriber when the catalog
changed (new events) or an hour has passed (digests entering the horizon).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from .. import language as words
from ..calendar.edition import Edition
from ..calendar.entries import event_page, join_url, uid_domain
from ..catalog import Catalog, Config, Event
from ..catalog.localtime import clock_change
from ..catalog.models import Digest
from ..store.tables import outbox
from . import subscribers as subscriber_store
from .mail import (
    Links,
    _instant,
    derived_message_id,
    event_times,
    instant_times,
    times_in,
    write_mail,
)
from .outbox import Claimed
from .planner import HORIZON, PlanResult, insert_planned, move_rows
from .subscribers import Subscriber

KINDS = ("digest", "new")
FULL_EVERY = timedelta(hours=1)  # far inside HORIZON: every digest is planned in time
LATE = timedelta(days=1)  # how late a digest may still go out
_MANY = 1000  # changed subscribers beyond which planning everyone is the simpler query
NOTHING = "nothing coming in their topics"
BEGUN = "the event has begun"
SKIPPED = frozenset({NOTHING, BEGUN})  # reasons recorded as skipped, not withdrawn

Key = tuple[int, str, str, int, datetime]  # as the outbox's unique key
_OPEN = ("planned", "withdrawn")  # rows that may still become (or be again) the one sent


# When digests are due.


def occurrence(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """Return the instant (UTC) that ``hour`` o'clock on ``day`` names in ``zone``.

    An hour that exists twice is the first; one skipped by a DST change is the first
    instant after the jump.
    """
    wall = datetime.combine(day, time(hour), tzinfo=zone)  # fold 0: the first of two
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    # In the gap: fold 1 reads the wall time at the later offset, an instant before the
    # jump; fold 0 at the earlier one, after it. The jump lies between: find it.
    return clock_change(wall.replace(fold=1), instant, zone)


def around(digest: Digest, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """Return the digest instant at or before ``now``, and the first one after it."""
    today = now.astimezone(zone).date()
    day = today - timedelta(days=(today.weekday() - digest.weekday) % 7)
    this = occurrence(day, digest.hour, zone)
    if this > now:
        return occurrence(day - timedelta(days=7), digest.hour, zone), this
    return this, occurrence(day + timedelta(days=7), digest.hour, zone)


def week_of(instant: datetime, zone: ZoneInfo) -> str:
    """Return the ISO week of ``instant`` in ``zone``, as ``2026-W49``."""
    year, week, _ = instant.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def digest_message_id(subscriber_id: int, week: str, config: Config) -> str:
    """Return a digest's Message-ID: one per subscriber and ISO week."""
    return f"<digest-{subscriber_id}-{week}@{uid_domain(config)}>"


def new_event_message_id(subscriber_id: int, event_id: str, config: Config) -> str:
    """Return the Message-ID of a new-event mail: one per subscriber and event."""
    return derived_message_id("new", f"{subscriber_id}|{event_id}|new", config)


def _since(person: Subscriber, chosen: datetime | None) -> datetime | None:
    """Return after when mail of a choice made at ``chosen`` is theirs (None: never)."""
    if chosen is None:
        return None
    if person.confirmed_at is None:
        return chosen
    return max(chosen, person.confirmed_at)


def wanted_digests(person: Subscriber, now: datetime) -> dict[Key, datetime]:
    """Return the digests of ``person`` to plan at ``now`` (the last one if never sent)."""
    digest = person.choices.digest
    since = _since(person, person.digest_since)
    if digest is None or since is None:
        return {}
    zone = person.timezone
    wanted: dict[Key, datetime] = {}
    last, upcoming = around(digest, zone, now)
    for due in (last, upcoming):
        if since < due <= now + HORIZON and due + LATE > now:
            wanted[(person.id, week_of(due, zone), "digest", 0, due + LATE)] = due
    return wanted


def wanted_news(
    person: Subscriber, edition: Edition, now: datetime, events: Iterable[Event]
) -> dict[Key, datetime]:
    """Return the new-event mails of ``person`` to plan: events first published since."""
    since = _since(person, person.new_events_since)
    if since is None:
        return {}
    wanted: dict[Key, datetime] = {}
    for event in events:
        published = edition.publications.get(event.id)
        if published is None or published.published_at <= since:
            continue
        if person.topics.isdisjoint(event.topics):
            continue
        wanted[(person.id, event.id, "new", 0, published.first_start)] = published.published_at
    return wanted


def _ahead_events(catalog: Catalog, now: datetime) -> list[Event]:
    return [e for e in catalog.events if e.status != "cancelled" and e.start > now]


# Planning.


class DigestPlanner:
    """Plan digests and new-event mails after each sweep of the reminder planner."""

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._full_at: datetime | None = None

    def sweep(
        self, engine: sa.Engine, edition: Edition, now: datetime, changed: set[int] | None
    ) -> PlanResult:
        """Plan for the subscribers ``changed`` (None: everyone), or for all when due."""
        now = now.astimezone(UTC)
        catalog = edition.catalog
        full = (
            changed is None
            or len(changed) > _MANY
            or self._full_at is None
            or not self._full_at <= now < self._full_at + FULL_EVERY
        )
        news_for_all = full or catalog is not self._catalog
        if not (full or news_for_all or changed):
            return PlanResult()
        result = PlanResult()
        with engine.begin() as connection:
            everyone = subscriber_store.confirmed(connection) if news_for_all else []
            ids = None if full else sorted(changed or ())
            if ids is None:
                people = everyone
            else:
                found = subscriber_store.get_many(connection, set(ids))
                people = [p for p in found.values() if p.status == "confirmed"]
            if full or ids:
                wanted: dict[Key, datetime] = {}
                for person in people:
                    wanted.update(wanted_digests(person, now))
                result += _reconcile(connection, "digest", wanted, now, ids)
            events = _ahead_events(catalog, now)
            if news_for_all:
                news: dict[Key, datetime] = {}
                for person in everyone:
                    news.update(wanted_news(person, edition, now, events))
                result += _reconcile(connection, "new", news, now, None)
            elif ids:
                news = {}
                for person in people:
                    news.update(wanted_news(person, edition, now, events))
                result += _reconcile(connection, "new", news, now, ids)
        self._catalog = catalog
        if full:
            self._full_at = now
        return result


def _reconcile(
    connection: sa.Connection,
    kind: str,
    wanted: dict[Key, datetime],
    now: datetime,
    ids: list[int] | None,
) -> PlanResult:
    """Make the stored rows of ``kind`` still ahead (of ``ids``; None: all) the wanted ones."""
    who = sa.true() if ids is None else outbox.c.subscriber_id.in_(ids)
    rows = connection.execute(
        sa.select(
            outbox.c.id,
            outbox.c.subscriber_id,
            outbox.c.event_id,
            outbox.c.kind,
            outbox.c.offset_seconds,
            outbox.c.target_at,
            outbox.c.status,
        ).where(outbox.c.kind == kind, outbox.c.target_at > now, who)
    ).all()
    stored: dict[Key, tuple[int, str]] = {
        (r.subscriber_id, r.event_id, r.kind, r.offset_seconds, r.target_at): (r.id, r.status)
        for r in rows
    }
    # A week (or an event) whose mail went out, or was settled, takes no other: also one
    # whose row is no longer ahead.
    settled: set[tuple[int, str]] = set()
    names = sorted({key[1] for key in wanted})
    for start in range(0, len(names), 500):
        settled.update(
            (row.subscriber_id, row.event_id)
            for row in connection.execute(
                sa.select(outbox.c.subscriber_id, outbox.c.event_id).where(
                    outbox.c.kind == kind,
                    outbox.c.event_id.in_(names[start : start + 500]),
                    outbox.c.status.not_in(_OPEN),
                    who,
                )
            )
        )
    wanted = {
        key: due for key, due in wanted.items() if key in stored or (key[0], key[1]) not in settled
    }
    new = [(key, due) for key, due in wanted.items() if key not in stored]
    insert_planned(connection, new)
    stale = [i for key, (i, status) in stored.items() if status == "planned" and key not in wanted]
    again = [i for key, (i, status) in stored.items() if status == "withdrawn" and key in wanted]
    reason = "digest no longer chosen at this time" if kind == "digest" else "no longer wanted"
    move_rows(connection, stale, "planned", "withdrawn", reason)
    move_rows(connection, again, "withdrawn", "planned", None)
    return PlanResult(planned=len(new) + len(again), withdrawn=len(stale))


# At send time.


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a digest: an event, and what of it falls in the digest's span."""

    event: Event
    when: str  # its times (deadline or start) in the reader's zone, the event's beside
    page_url: str
    register_url: str | None = None
    join_url: str | None = None


@dataclass(frozen=True, slots=True)
class Contents:
    """What a digest lists: deadlines first, then starts."""

    deadlines: list[Entry]
    starts: list[Entry]

    def __bool__(self) -> bool:
        return bool(self.deadlines or self.starts)


def contents(
    person: Subscriber, catalog: Catalog, now: datetime, until: datetime, language: str = "en"
) -> Contents:
    """Return what is coming in ``person``'s topics after ``now`` up to ``until``.

    Each entry's event and times are written in ``language``.
    """
    zone, config = person.timezone, catalog.config
    deadlines: list[tuple[datetime, str, Entry]] = []
    starts: list[tuple[datetime, str, Entry]] = []
    for event in catalog.events:
        if event.status == "cancelled" or person.topics.isdisjoint(event.topics):
            continue
        page = event_page(event, config)
        shown = event.in_language(language)
        deadline = event.registration.deadline if event.registration else None
        if deadline is not None and now < deadline <= until:
            register = event.registration.url if event.registration else None
            entry = Entry(shown, instant_times(deadline, event, zone, language), page, register)
            deadlines.append((deadline, event.id, entry))
        if now < event.start <= until:
            times = event_times(event, zone, language)
            entry = Entry(shown, times, page, join_url=join_url(event, private=True))
            starts.append((event.start, event.id, entry))
    return Contents(
        [entry for *_, entry in sorted(deadlines, key=lambda d: (d[0], d[1]))],
        [entry for *_, entry in sorted(starts, key=lambda s: (s[0], s[1]))],
    )


def why_not(row: Claimed, person: Subscriber, catalog: Catalog, now: datetime) -> str | None:
    """Say why a digest or new-event mail must not go now (None: it must).

    ``person`` is confirmed and read right now.
    """
    choices = person.choices
    if row.kind == "digest":
        digest = choices.digest
        if digest is None:
            return "digest turned off"
        last, until = around(digest, person.timezone, row.due_at)
        if last != row.due_at:
            return "digest no longer chosen at this time"
        if not contents(person, catalog, now, until):
            return NOTHING
        return None
    if not choices.new_events:
        return "new-event mails turned off"
    event = catalog.by_id.get(row.event_id)
    if event is None:
        return "event removed"
    if event.status == "cancelled":
        return "event cancelled"
    if person.topics.isdisjoint(event.topics):
        return "topics changed"
    if event.start <= now:
        return BEGUN
    return None


def render(
    row: Claimed,
    person: Subscriber,
    edition: Edition,
    links: Links,
    now: datetime,
) -> tuple[EmailMessage, str]:
    """Compose ``row``'s digest or new-event mail for ``person``; return it and its id."""
    config = edition.catalog.config
    language = config.site.language_for(person.language)
    said = words.translations(language)
    names = {slug: topic.in_language(language).name for slug, topic in config.topics.items()}
    topics = [names[t] for t in sorted(person.topics) if t in names]
    base = {"site": config.site, "language": language, "topics": topics, "links": links}
    zone = person.timezone
    if row.kind == "digest":
        assert person.choices.digest is not None  # why_not said it still applies
        end = around(person.choices.digest, zone, row.due_at)[1]  # the next digest
        listed = contents(person, edition.catalog, now, end, language)
        until = _instant(end, zone, language)
        context = {**base, "contents": listed, "until": until, "week": row.event_id}
        identity = digest_message_id(person.id, row.event_id, config)
        count = len({entry.event.id for entry in listed.deadlines + listed.starts})
        day = words.weekday(end.astimezone(zone).date(), language)
        subject = said.ngettext(
            "Coming up until %(day)s: %(num)d event",
            "Coming up until %(day)s: %(num)d events",
            count,
        ) % {"day": day, "num": count}
        written = write_mail(
            "digest",
            context,
            language,
            subject=subject,
            to=person.email,
            config=config,
            message_id=identity,
            links=links,
            now=now,
        )
        return written, identity
    event = edition.catalog.by_id[row.event_id]
    times = times_in(event, zone, language)
    shown = event.in_language(language)
    page = event_page(event, config)
    context = {
        **base,
        "event": shown,
        "when": times.when,
        "deadline": times.deadline,
        "page_url": page,
        "ics_url": page + ".ics",
        "join_url": join_url(event, private=True),
        "event_topics": [names[slug] for slug in event.topics if slug in names],
    }
    identity = new_event_message_id(person.id, event.id, config)
    subject = said.gettext("New: %(title)s") % {"title": shown.title}
    ics = edition.in_language(language).event_feed(event.id).body
    written = write_mail(
        "new_event",
        context,
        language,
        subject=subject,
        to=person.email,
        config=config,
        message_id=identity,
        links=links,
        now=now,
        calendar=(event.id, ics),
    )
    return written, identity


# What ``calfeed reminders`` shows.


def upcoming(connection: sa.Connection, now: datetime) -> list[tuple[datetime, int, str, str]]:
    """Return each digest and new-event mail still to come: (when, subscriber, what, kind).

    The planned rows, and each digest subscriber's next digest not planned yet.
    """
    rows = connection.execute(
        sa.select(outbox.c.due_at, outbox.c.subscriber_id, outbox.c.event_id, outbox.c.kind)
        .where(outbox.c.kind.in_(KINDS), outbox.c.status.in_(["planned", "sending"]))
        .where(outbox.c.target_at > now)
    ).all()
    found = [(max(r.due_at, now), r.subscriber_id, r.event_id, r.kind) for r in rows]
    planned: dict[int, set[str]] = defaultdict(set)
    for _, subscriber_id, week, kind in found:
        if kind == "digest":
            planned[subscriber_id].add(week)
    for person in subscriber_store.confirmed(connection):
        digest, since = person.choices.digest, _since(person, person.digest_since)
        if digest is None or since is None:
            continue
        due = around(digest, person.timezone, now)[1]
        week = week_of(due, person.timezone)
        if due > since and week not in planned[person.id]:
            found.append((due, person.id, week, "digest"))
    return found
