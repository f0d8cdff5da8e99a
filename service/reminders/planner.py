"""The planner: which reminders are due, written into the outbox idempotently.

Each reminder has a key (subscriber, event, kind, offset, target instant) that is unique in
the outbox, so planning again never duplicates. Planning covers reminders due up to
``HORIZON`` ahead (the worker plans again long before that runs out) and every reminder that
came due while nobody planned, as long as what it announces is still ahead; the sender then
sends only the latest of those. Rows that no longer apply (the event moved, was cancelled or
removed; the person left or changed topics) are withdrawn, and withdrawn rows that apply
again are restored. Subscribers who already had a reminder for an event that is then
cancelled get one cancellation notice.

A worker plans with a ``Planner``, which works on changes. Its first sweep is a full plan,
event by event; after that a sweep re-plans only what changed since the last one:

- an event added, edited (its start, deadline, status or topics), or removed: that event;
- a subscriber signed up, confirmed, changed, unsubscribed, erased, or synced from
  config.yaml, by any process: that subscriber. The database logs every write to
  ``subscribers`` (triggers, migration 0006) and the planner reads the log past the last
  entry it saw;
- time: a reminder entering the horizon plans just that reminder of its event. Targets that
  pass need nothing, for the planner never looks at reminders whose target has passed.

So a sweep when nothing changed reads the log and nothing else. A new reminder offset in
config.yaml, a clock that went back, or a log pruned past what the planner saw (a worker
that did not sweep for a day) make the next sweep a full plan again. Planning stays
idempotent: several workers each plan, and the unique key keeps a reminder single.

A reminder can be in flight (claimed by a sender) when its event is cancelled and still be
sent after the plan that saw the cancellation; the planner keeps looking at such an event
until nothing of it is in flight, so that person gets their notice too.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..catalog import Catalog, Event
from ..catalog.models import ReminderOffsets
from ..store.database import insert
from ..store.tables import outbox, subscriber_changes, subscribers
from . import subscribers as subscriber_store
from .outbox import KEY_COLUMNS

HORIZON = timedelta(days=2)
_BATCH = 1000
_IDS_A_STATEMENT = 10_000  # subscribers of one reminder inserted by one statement
_EVENTS_A_TRANSACTION = 20  # a full plan commits as it goes: sign-ups do not wait for it
_PRUNE_EVERY = 120  # sweeps (an hour at 30 s) between two prunings of the change log
_LOG_KEPT = "1 day"  # how long the change log keeps what it says (at least its last entry)
_REMINDERS = ("start", "deadline")
# Mails that told someone of an event: a cancellation reaches whoever had one.
_ANNOUNCED = (*_REMINDERS, "new")
# What planning reads of a subscriber.
_PERSON = (
    subscribers.c.id,
    subscribers.c.topics,
    subscribers.c.confirmed_at,
    subscribers.c.per_event,
)

Key = tuple[int, str, str, int, datetime]  # subscriber, event, kind, offset seconds, target
# What a reminder is for, whoever gets it: event, kind, offset seconds, target.
Slot = tuple[str, str, int, datetime]


T = TypeVar("T")


class Person(Protocol):
    """What planning needs to know of a subscriber."""

    @property
    def id(self) -> int: ...

    @property
    def topics(self) -> frozenset[str]: ...

    @property
    def confirmed_at(self) -> datetime | None: ...

    @property
    def per_event(self) -> bool: ...


P = TypeVar("P", bound=Person)


@dataclass(frozen=True, slots=True)
class _Confirmed:
    """A confirmed subscriber, as the planner keeps them between sweeps."""

    id: int
    topics: frozenset[str]
    confirmed_at: datetime | None
    per_event: bool = True  # False: no reminder before events, only notices of cancellation


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What one planning run changed."""

    planned: int = 0
    withdrawn: int = 0
    notices: int = 0

    def __add__(self, other: PlanResult) -> PlanResult:
        return PlanResult(
            self.planned + other.planned,
            self.withdrawn + other.withdrawn,
            self.notices + other.notices,
        )


def plan(engine: sa.Engine, catalog: Catalog, now: datetime) -> PlanResult:
    """Bring the whole outbox in line with the catalog and the subscribers at ``now``."""
    return Planner().sweep(engine, catalog, now)


class Planner:
    """Plan again and again, doing only the work that what changed calls for.

    It holds what it planned last: the catalog, the confirmed subscribers, the last entry of
    the change log it read, and when time alone next brings a reminder into the horizon.
    """

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._events: dict[str, Event] = {}
        self._people: dict[int, _Confirmed] = {}
        self._by_topic: dict[str, list[_Confirmed]] | None = None
        self._seen = 0  # the last entry of subscriber_changes read
        self._planned_at = datetime.min.replace(tzinfo=UTC)
        self._slots: list[tuple[datetime, Slot]] = []  # each reminder, by when it enters
        self._in_flight: set[str] = set()  # cancelled, with a reminder that may yet be sent
        self._sweeps = 0
        self._topics: dict[str, frozenset[str]] = {}  # one set for each spelling of topics
        # Who the last sweep saw change (None: it planned everything), for digest planning.
        self.changed: set[int] | None = None

    def sweep(self, engine: sa.Engine, catalog: Catalog, now: datetime) -> PlanResult:
        """Bring the outbox in line with the catalog and the subscribers at ``now``."""
        now = now.astimezone(UTC)
        config = catalog.config
        last = self._catalog.config if self._catalog is not None else None
        full = (
            last is None
            or now < self._planned_at  # the clock went back: the horizon did too
            or config.reminders != last.reminders
        )
        # The live catalog keeps the config of an unchanged config.yaml: no list to compare.
        synced = (
            last is None or full or (config is not last and config.subscribers != last.subscribers)
        )
        if synced:
            self._sync(engine, catalog, now)
        changed = self._read_changes(engine, first=full)
        if changed is None:
            full = True  # the log was pruned past what this planner saw
        elif changed and not synced and self._config_rows_changed(engine, changed):
            # config.yaml wins over an edit of a subscriber it lists, and an erased one it
            # lists comes back, as a sync at every sweep would have it.
            self._sync(engine, catalog, now)
            changed |= self._read_changes(engine, first=False) or set()
        self._sweeps += 1
        self.changed = None if full else set(changed or ())
        if full:
            result = self._full(engine, catalog, now)
        else:
            result = self._changes(engine, catalog, now, changed or set())
        if full or self._sweeps % _PRUNE_EVERY == 0:
            _prune(engine)
        return result

    # What changed.

    def _sync(self, engine: sa.Engine, catalog: Catalog, now: datetime) -> None:
        # A transaction of its own, short: on PostgreSQL it holds the change log until done.
        with engine.begin() as connection:
            subscriber_store.sync_configured(
                connection, catalog.config.subscribers, now, catalog.config.reminders.defaults
            )

    def _read_changes(self, engine: sa.Engine, first: bool) -> set[int] | None:
        """Return who changed since the last look, or None if the log no longer says."""
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Wait for the transactions writing to the log to end, so that every entry up
                # to the last one read is there: none can commit below it later.
                connection.execute(sa.text("LOCK TABLE subscriber_changes IN SHARE MODE"))
            log = subscriber_changes.c
            if first:
                self._seen = connection.execute(sa.select(sa.func.max(log.id))).scalar() or 0
                return set()
            oldest = sa.select(sa.func.min(log.id)).scalar_subquery()
            rows = connection.execute(
                sa.select(log.id, log.subscriber_id)
                .where(sa.or_(log.id > self._seen, log.id == oldest))
                .order_by(log.id)
            ).all()
        if rows and rows[0].id > self._seen + 1:
            self._seen = rows[-1].id
            return None
        changed = {row.subscriber_id for row in rows if row.id > self._seen}
        if rows:
            self._seen = max(self._seen, rows[-1].id)
        return changed

    def _config_rows_changed(self, engine: sa.Engine, ids: set[int]) -> bool:
        """Tell whether any of ``ids`` is a config.yaml subscriber or no longer stored."""
        found = 0
        with engine.connect() as connection:
            for chunk in _chunks(sorted(ids)):
                rows = connection.execute(
                    sa.select(subscribers.c.source).where(subscribers.c.id.in_(chunk))
                ).all()
                found += len(rows)
                if any(row.source == "config" for row in rows):
                    return True
        return found < len(ids)

    # The full plan.

    def _full(self, engine: sa.Engine, catalog: Catalog, now: datetime) -> PlanResult:
        """Plan everything, an event at a time: memory holds one event's reminders."""
        with engine.connect() as connection:
            query = sa.select(*_PERSON).where(subscribers.c.status == "confirmed")
            self._people = {row.id: self._person(row) for row in connection.execute(query)}
        self._by_topic = None
        self._remember(catalog, now)
        result = PlanResult()
        events = list(catalog.events)
        for start in range(0, len(events), _EVENTS_A_TRANSACTION):
            with engine.begin() as connection:
                for event in events[start : start + _EVENTS_A_TRANSACTION]:
                    result += self._event(connection, catalog, event.id, now)
        with engine.begin() as connection:
            # Reminders of events no longer in the catalog.
            query = sa.select(outbox.c.event_id).where(_ahead(now), outbox.c.status == "planned")
            planned = set(connection.execute(query.distinct()).scalars())
            for event_id in sorted(planned - catalog.by_id.keys()):
                result += self._event(connection, catalog, event_id, now)
            cancelled = _cancelled(catalog, now)
            self._in_flight = _sending(connection, cancelled)
            result += _notices(connection, catalog, set(self._people), now, cancelled)
        return result

    # The plan of what changed.

    def _changes(
        self, engine: sa.Engine, catalog: Catalog, now: datetime, changed: set[int]
    ) -> PlanResult:
        since = self._planned_at
        events = self._changed_events(catalog)
        if events or catalog is not self._catalog:
            self._remember(catalog, now)
        else:
            self._planned_at = now
        entering = self._entering(since, now, events)
        if not (events or changed or entering or self._in_flight):
            return PlanResult()
        result = PlanResult()
        with engine.begin() as connection:
            if changed:
                self._reload(connection, changed)
                result += self._subscribers(connection, catalog, changed, now)
            for event_id in sorted(events):
                result += self._event(connection, catalog, event_id, now)
            for slot in entering:
                result += self._slot(connection, catalog, slot, now)
            # Cancelled events: the ones just cancelled, and those with a reminder in flight.
            cancelled = _cancelled(catalog, now)
            look = (events | self._in_flight) & cancelled
            self._in_flight = _sending(connection, look)
            result += _notices(connection, catalog, set(self._people), now, look)
            if changed and cancelled:
                for chunk in _chunks(sorted(changed)):
                    result += _notices(
                        connection, catalog, set(self._people), now, cancelled, chunk
                    )
        return result

    def _changed_events(self, catalog: Catalog) -> set[str]:
        """Return the ids of the events added, removed or changed in what planning reads."""
        if catalog is self._catalog:
            return set()
        changed = set(self._events.keys() - catalog.by_id.keys())
        for event in catalog.events:
            before = self._events.get(event.id)
            # The live catalog keeps the objects of events whose files did not change.
            if before is not event and (before is None or _shape(before) != _shape(event)):
                changed.add(event.id)
        return changed

    def _entering(self, since: datetime, now: datetime, skip: set[str]) -> list[Slot]:
        """Return the reminders that entered the horizon after ``since``, up to ``now``."""
        slots = self._slots
        first = bisect.bisect_right(slots, since, key=lambda entry: entry[0])
        if first == len(slots) or slots[first][0] > now:
            return []  # the common case: nothing new until slots[first][0]
        last = bisect.bisect_right(slots, now, key=lambda entry: entry[0])
        return [slot for _, slot in slots[first:last] if slot[0] not in skip and slot[3] > now]

    def _remember(self, catalog: Catalog, now: datetime) -> None:
        """Keep ``catalog`` as planned at ``now``, with when each of its reminders enters."""
        self._catalog, self._planned_at = catalog, now
        self._events = dict(catalog.by_id)
        offsets = catalog.config.reminders
        self._slots = sorted(
            (
                (target - offset - HORIZON, (event.id, kind, int(offset.total_seconds()), target))
                for event in catalog.events
                if event.status != "cancelled"
                for kind, target, kind_offsets in _targets(event, offsets)
                for offset in kind_offsets
            ),
            key=lambda entry: entry[0],
        )

    def _reload(self, connection: sa.Connection, ids: set[int]) -> None:
        """Read the subscribers ``ids`` again: who is confirmed, with which topics."""
        for chunk in _chunks(sorted(ids)):
            for person_id in chunk:
                self._people.pop(person_id, None)
            rows = connection.execute(
                sa.select(*_PERSON)
                .where(subscribers.c.id.in_(chunk), subscribers.c.status == "confirmed")
                .order_by(subscribers.c.id)
            )
            self._people.update((row.id, self._person(row)) for row in rows)
        self._by_topic = None

    def _person(self, row: Any) -> _Confirmed:
        topics = self._topics.get(row.topics)
        if topics is None:
            topics = self._topics.setdefault(row.topics, frozenset(row.topics.split()))
        return _Confirmed(row.id, topics, row.confirmed_at, bool(row.per_event))

    @property
    def by_topic(self) -> dict[str, list[_Confirmed]]:
        if self._by_topic is None:
            self._by_topic = _by_topic(self._people.values())
        return self._by_topic

    # Bringing one part of the outbox in line.

    def _event(
        self, connection: sa.Connection, catalog: Catalog, event_id: str, now: datetime
    ) -> PlanResult:
        """Plan one event (gone from the catalog: withdraw what it had) for everyone."""
        event = catalog.by_id.get(event_id)
        wanted: dict[Key, datetime] = {}
        if event is not None:
            audience = _audience(event, self.by_topic)
            wanted = _wanted(event, audience, catalog.config.reminders, now, HORIZON)
        stored = _stored(connection, now, outbox.c.event_id == event_id)
        return _reconcile(connection, catalog, wanted, stored, self._people)

    def _slot(
        self, connection: sa.Connection, catalog: Catalog, slot: Slot, now: datetime
    ) -> PlanResult:
        """Plan one reminder of one event, for everyone: it has just entered the horizon."""
        event_id, kind, seconds, target = slot
        event = catalog.by_id[event_id]
        audience = _audience(event, self.by_topic)
        wanted = {
            key: due
            for key, due in _wanted(event, audience, catalog.config.reminders, now, HORIZON).items()
            if key[2] == kind and key[3] == seconds and key[4] == target
        }
        stored = _stored(
            connection,
            now,
            outbox.c.event_id == event_id,
            outbox.c.kind == kind,
            outbox.c.offset_seconds == seconds,
            outbox.c.target_at == target,
        )
        return _reconcile(connection, catalog, wanted, stored, self._people)

    def _subscribers(
        self, connection: sa.Connection, catalog: Catalog, ids: set[int], now: datetime
    ) -> PlanResult:
        """Plan every event for the subscribers ``ids`` (not confirmed: withdraw theirs)."""
        result = PlanResult()
        for chunk in _chunks(sorted(ids)):
            people = [self._people[i] for i in chunk if i in self._people]
            wanted = desired(catalog, people, now)
            stored = _stored(connection, now, outbox.c.subscriber_id.in_(chunk))
            result += _reconcile(connection, catalog, wanted, stored, self._people)
        return result


def desired(
    catalog: Catalog,
    people: Iterable[Person],
    now: datetime,
    horizon: timedelta | None = HORIZON,
) -> dict[Key, datetime]:
    """Return every reminder due up to ``horizon`` ahead (None: all), with its due instant."""
    by_topic = _by_topic(people)
    wanted: dict[Key, datetime] = {}
    for event in catalog.events:
        wanted.update(_wanted(event, None, catalog.config.reminders, now, horizon, by_topic))
    return wanted


def _wanted(
    event: Event,
    audience: Sequence[Person] | None,
    offsets: ReminderOffsets,
    now: datetime,
    horizon: timedelta | None,
    by_topic: dict[str, list[Person]] | None = None,
) -> dict[Key, datetime]:
    """Return the reminders of one event due up to ``horizon`` ahead, for its audience.

    The audience is given, or found in ``by_topic`` only if the event has a reminder due.
    """
    if event.status == "cancelled":
        return {}
    due_now = [
        (kind, target, offset)
        for kind, target, kind_offsets in _targets(event, offsets)
        if target > now
        for offset in kind_offsets
        if horizon is None or target - offset <= now + horizon
    ]
    if not due_now:
        return {}
    if audience is None:
        audience = _audience(event, by_topic or {})
    wanted: dict[Key, datetime] = {}
    for kind, target, offset in due_now:
        due = target - offset
        seconds = int(offset.total_seconds())
        for person in audience:
            # Only reminders due after someone confirmed are theirs.
            if person.confirmed_at is None or due > person.confirmed_at:
                wanted[(person.id, event.id, kind, seconds, target)] = due
    return wanted


def _targets(
    event: Event, offsets: ReminderOffsets
) -> list[tuple[str, datetime, tuple[timedelta, ...]]]:
    """Return what an event's reminders announce: its start and its deadline, in UTC."""
    targets = [("start", event.start.astimezone(UTC), offsets.before_start)]
    if event.registration and event.registration.deadline:
        deadline = event.registration.deadline.astimezone(UTC)
        targets.append(("deadline", deadline, offsets.before_registration_deadline))
    return targets


def _shape(event: Event) -> tuple[object, ...]:
    """Return what planning reads of an event: another title or place plans nothing anew."""
    deadline = event.registration.deadline if event.registration else None
    return event.status, event.start, deadline, event.topics


def _by_topic(people: Iterable[P]) -> dict[str, list[P]]:
    """Return who gets reminders of each topic's events: not those who turned them off."""
    by_topic: dict[str, list[P]] = defaultdict(list)
    for person in people:
        if not person.per_event:
            continue
        for topic in person.topics:
            by_topic[topic].append(person)
    return by_topic


def _audience(event: Event, by_topic: dict[str, list[P]]) -> list[P]:
    """Return each subscriber of any of the event's topics once: one mail per event."""
    if len(event.topics) == 1:
        return by_topic.get(event.topics[0], [])
    seen: dict[int, P] = {}
    for topic in event.topics:
        for person in by_topic.get(topic, ()):
            seen.setdefault(person.id, person)
    return list(seen.values())


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


# The status, as a condition no index answers: where rows are found by id or by event, SQLite
# would otherwise walk the (status, due_at) index through every planned row of the outbox.
_status = outbox.c.status.concat("")


def _ahead(now: datetime) -> sa.ColumnElement[bool]:
    """Reminders (not notices, not account mail) whose target is still ahead."""
    return sa.and_(outbox.c.target_at > now, outbox.c.kind.in_(_REMINDERS))


def _stored(
    connection: sa.Connection, now: datetime, *where: sa.ColumnElement[bool]
) -> dict[Key, tuple[int, str]]:
    """Return the id and status of the reminders in the outbox whose target is ahead."""
    rows = connection.execute(
        sa.select(*KEY_COLUMNS, outbox.c.id, outbox.c.status).where(_ahead(now), *where)
    )
    return {(r[0], r[1], r[2], r[3], r[4]): (r[5], r[6]) for r in rows}


def _reconcile(
    connection: sa.Connection,
    catalog: Catalog,
    wanted: dict[Key, datetime],
    stored: dict[Key, tuple[int, str]],
    confirmed: dict[int, _Confirmed],
) -> PlanResult:
    """Make the stored reminders of one part of the outbox the wanted ones of that part."""
    planned = insert_planned(connection, [(k, due) for k, due in wanted.items() if k not in stored])
    stale = [(key, row_id) for key, (row_id, status) in stored.items() if status == "planned"]
    stale = [(key, row_id) for key, row_id in stale if key not in wanted]
    withdrawn = _withdraw(connection, catalog, stale, confirmed)
    # A reminder withdrawn earlier applies again (an event moved back, a topic re-chosen).
    again = [i for key, (i, status) in stored.items() if status == "withdrawn" and key in wanted]
    planned += _restore(connection, again)
    return PlanResult(planned, withdrawn)


def insert_planned(connection: sa.Connection, items: list[tuple[Key, datetime]]) -> int:
    """Insert reminders (those already there stay as they are); return how many were asked.

    The rows of one reminder for many people are made by the database from a list of ids
    (one parameter), rather than bound row by row: an edited event at 50,000 people inserts
    tens of thousands of rows.
    """
    by_slot: dict[tuple[str, str, int, datetime, datetime], list[int]] = defaultdict(list)
    for key, due in items:
        by_slot[(key[1], key[2], key[3], key[4], due)].append(key[0])
    columns = ["subscriber_id", "event_id", "kind", "offset_seconds", "target_at", "due_at"]
    for (event_id, kind, seconds, target, due), people in by_slot.items():
        for start in range(0, len(people), _IDS_A_STATEMENT):
            ids = _id_list(connection, people[start : start + _IDS_A_STATEMENT])
            rows = sa.select(
                ids.c.value,
                sa.literal(event_id, outbox.c.event_id.type),
                sa.literal(kind, outbox.c.kind.type),
                sa.literal(seconds, sa.Integer),
                sa.literal(target, outbox.c.target_at.type),
                sa.literal(due, outbox.c.due_at.type),
                sa.literal("planned", outbox.c.status.type),
                sa.literal(0, sa.Integer),
            ).where(sa.true())  # SQLite parses INSERT ... SELECT ... ON CONFLICT only so
            statement = insert(connection, outbox).from_select(
                [*columns, "status", "attempts"], rows
            )
            connection.execute(statement.on_conflict_do_nothing())
    return len(items)


def _id_list(connection: sa.Connection, ids: list[int]) -> sa.TableValuedAlias:
    """Return the rows of ``ids`` as a table of one column, ``value``, in one parameter."""
    if connection.dialect.name == "postgresql":
        array = sa.literal(ids, postgresql.ARRAY(sa.Integer))
        return sa.func.unnest(array).table_valued("value").render_derived()
    return sa.func.json_each(sa.literal(json.dumps(ids))).table_valued("value")


def _restore(connection: sa.Connection, ids: list[int]) -> int:
    move_rows(connection, ids, "withdrawn", "planned", None)
    return len(ids)


def _withdraw(
    connection: sa.Connection,
    catalog: Catalog,
    stale: list[tuple[Key, int]],
    confirmed: dict[int, _Confirmed],
) -> int:
    """Withdraw planned reminders that no longer apply, saying why."""
    reasons: dict[str, list[int]] = defaultdict(list)
    for key, row_id in stale:
        reasons[_why(key[1], key[0], catalog, confirmed)].append(row_id)
    for reason, ids in reasons.items():
        move_rows(connection, ids, "planned", "withdrawn", reason)
    return len(stale)


def move_rows(
    connection: sa.Connection, ids: list[int], old: str, new: str, detail: str | None
) -> None:
    """Move the rows ``ids`` still in status ``old`` to ``new``, a batch at a time."""
    for chunk in _chunks(ids):
        connection.execute(
            outbox.update()
            .where(outbox.c.id.in_(chunk), _status == old)
            .values(status=new, detail=detail)
        )


def _why(
    event_id: str, subscriber_id: int, catalog: Catalog, confirmed: dict[int, _Confirmed]
) -> str:
    event = catalog.by_id.get(event_id)
    if event is None:
        return "event removed"
    if event.status == "cancelled":
        return "event cancelled"
    if subscriber_id not in confirmed:
        return "subscriber left"
    if not confirmed[subscriber_id].per_event:
        return "per-event reminders turned off"
    return "event moved or topics changed"


# Cancellation notices.


def _cancelled(catalog: Catalog, now: datetime) -> set[str]:
    """Return the ids of the cancelled events still ahead."""
    return {e.id for e in catalog.events if e.status == "cancelled" and e.start > now}


def _sending(connection: sa.Connection, event_ids: set[str]) -> set[str]:
    """Return which of ``event_ids`` have a reminder that a sender may still send."""
    if not event_ids:
        return set()
    rows = connection.execute(
        sa.select(outbox.c.event_id)
        .where(
            outbox.c.event_id.in_(sorted(event_ids)),
            outbox.c.kind.in_(_ANNOUNCED),
            _status.in_(["sending", "planned"]),
        )
        .distinct()
    )
    return set(rows.scalars())


def _notices(
    connection: sa.Connection,
    catalog: Catalog,
    confirmed: set[int],
    now: datetime,
    event_ids: set[str],
    subscriber_ids: list[int] | None = None,
) -> PlanResult:
    """Plan one notice for each person who had a reminder (or a new-event mail) for an
    event since cancelled.

    Only for the cancelled events ``event_ids``, and only for ``subscriber_ids`` if given.
    Ask which of them are still sending before this: a reminder sent after it is seen then.
    """
    if not event_ids:
        return PlanResult()
    who = sa.true() if subscriber_ids is None else outbox.c.subscriber_id.in_(subscriber_ids)
    events = outbox.c.event_id.in_(sorted(event_ids))
    rows = connection.execute(
        sa.select(outbox.c.subscriber_id, outbox.c.event_id)
        .where(events, who, _status == "sent", outbox.c.kind.in_(_ANNOUNCED))
        .distinct()
    )
    already = set(
        tuple(row)
        for row in connection.execute(
            sa.select(outbox.c.subscriber_id, outbox.c.event_id).where(
                events, who, outbox.c.kind == "cancelled"
            )
        )
    )
    notices: list[tuple[Key, datetime]] = []
    for row in rows:
        if row.subscriber_id in confirmed and (row.subscriber_id, row.event_id) not in already:
            start = catalog.by_id[row.event_id].start.astimezone(UTC)
            notices.append(((row.subscriber_id, row.event_id, "cancelled", 0, start), now))
    return PlanResult(notices=insert_planned(connection, notices))


# The change log.


def _prune(engine: sa.Engine) -> None:
    """Forget log entries older than a day, but never the last one (it says where we are)."""
    with engine.begin() as connection:
        before: sa.ColumnElement[Any]
        if connection.dialect.name == "postgresql":
            before = sa.literal_column(f"LOCALTIMESTAMP - interval '{_LOG_KEPT}'")
        else:
            before = sa.func.datetime("now", f"-{_LOG_KEPT}")
        log = subscriber_changes.c
        connection.execute(
            subscriber_changes.delete().where(
                log.changed_at < before,
                log.id < sa.select(sa.func.max(log.id)).scalar_subquery(),
            )
        )
