"""The planner: which reminders are due, written into the outbox idempotently.

Each reminder has a key (subscriber, event, kind, offset, target instant) that is unique in
the outbox, so planning again never duplicates. Planning covers reminders due up to
``HORIZON`` ahead (the worker plans again long before that runs out) and every reminder that
came due while nobody planned, as long as what it announces is still ahead; the sender then
sends only the latest of those. Rows that no longer apply (the event moved, was cancelled or
removed; the person left or changed topics) are withdrawn. Subscribers who already had a
reminder for an event that is then cancelled get one cancellation notice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ..catalog import Catalog, Event
from ..store.database import insert
from ..store.tables import outbox
from . import subscribers as subscriber_store
from .outbox import KEY_COLUMNS
from .subscribers import Subscriber

HORIZON = timedelta(days=2)
_BATCH = 1000

Key = tuple[int, str, str, int, datetime]  # subscriber, event, kind, offset seconds, target


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What one planning run changed."""

    planned: int
    withdrawn: int
    notices: int


def plan(engine: sa.Engine, catalog: Catalog, now: datetime) -> PlanResult:
    """Bring the outbox in line with the catalog and the subscribers at ``now``."""
    now = now.astimezone(UTC)
    with engine.begin() as connection:
        subscriber_store.sync_configured(connection, catalog.config.subscribers, now)
        people = subscriber_store.confirmed(connection)
        wanted = desired(catalog, people, now)
        stored = _stored(connection, now)
        planned = _insert(connection, [(k, due) for k, due in wanted.items() if k not in stored])
        stale = [(key, row_id) for key, (row_id, status) in stored.items() if status == "planned"]
        stale = [(key, row_id) for key, row_id in stale if key not in wanted]
        withdrawn = _withdraw(connection, catalog, stale, {p.id for p in people})
        # A reminder withdrawn earlier applies again (an event moved back, a topic re-chosen).
        again = [
            i for key, (i, status) in stored.items() if status == "withdrawn" and key in wanted
        ]
        planned += _restore(connection, again)
        notices = _cancellation_notices(connection, catalog, {p.id for p in people}, now)
    return PlanResult(planned, withdrawn, notices)


def desired(
    catalog: Catalog,
    people: Iterable[Subscriber],
    now: datetime,
    horizon: timedelta | None = HORIZON,
) -> dict[Key, datetime]:
    """Return every reminder due up to ``horizon`` ahead (None: all), with its due instant."""
    by_topic: dict[str, list[Subscriber]] = defaultdict(list)
    for person in people:
        for topic in person.topics:
            by_topic[topic].append(person)
    offsets = catalog.config.reminders
    wanted: dict[Key, datetime] = {}
    for event in catalog.events:
        if event.status == "cancelled":
            continue
        targets = [("start", event.start, offsets.before_start)]
        if event.registration and event.registration.deadline:
            targets.append(
                ("deadline", event.registration.deadline, offsets.before_registration_deadline)
            )
        due_now = [
            (kind, target.astimezone(UTC), offset)
            for kind, target, kind_offsets in targets
            if target > now
            for offset in kind_offsets
            if horizon is None or target - offset <= now + horizon
        ]
        if not due_now:
            continue
        audience = _audience(event, by_topic)
        for kind, target, offset in due_now:
            due = target - offset
            seconds = int(offset.total_seconds())
            for person in audience:
                # Only reminders due after someone confirmed are theirs.
                if person.confirmed_at is None or due > person.confirmed_at:
                    wanted[(person.id, event.id, kind, seconds, target)] = due
    return wanted


def _audience(event: Event, by_topic: dict[str, list[Subscriber]]) -> list[Subscriber]:
    """Return each subscriber of any of the event's topics once: one mail per event."""
    seen: dict[int, Subscriber] = {}
    for topic in event.topics:
        for person in by_topic.get(topic, ()):
            seen.setdefault(person.id, person)
    return list(seen.values())


def _stored(connection: sa.Connection, now: datetime) -> dict[Key, tuple[int, str]]:
    """Return the id and status of every reminder in the outbox whose target is ahead."""
    rows = connection.execute(
        sa.select(*KEY_COLUMNS, outbox.c.id, outbox.c.status).where(
            outbox.c.target_at > now, outbox.c.kind.in_(["start", "deadline"])
        )
    )
    return {(r[0], r[1], r[2], r[3], r[4]): (r[5], r[6]) for r in rows}


def _insert(connection: sa.Connection, items: list[tuple[Key, datetime]]) -> int:
    for start in range(0, len(items), _BATCH):
        rows = [
            {
                "subscriber_id": key[0],
                "event_id": key[1],
                "kind": key[2],
                "offset_seconds": key[3],
                "target_at": key[4],
                "due_at": due,
                "status": "planned",
                "attempts": 0,
            }
            for key, due in items[start : start + _BATCH]
        ]
        connection.execute(insert(connection, outbox).on_conflict_do_nothing(), rows)
    return len(items)


def _restore(connection: sa.Connection, ids: list[int]) -> int:
    _move(connection, ids, "withdrawn", "planned", None)
    return len(ids)


def _withdraw(
    connection: sa.Connection,
    catalog: Catalog,
    stale: list[tuple[Key, int]],
    confirmed: set[int],
) -> int:
    """Withdraw planned reminders that no longer apply, saying why."""
    reasons: dict[str, list[int]] = defaultdict(list)
    for key, row_id in stale:
        reasons[_why(key[1], key[0], catalog, confirmed)].append(row_id)
    for reason, ids in reasons.items():
        _move(connection, ids, "planned", "withdrawn", reason)
    return len(stale)


def _move(
    connection: sa.Connection, ids: list[int], old: str, new: str, detail: str | None
) -> None:
    """Move the rows ``ids`` still in status ``old`` to ``new``, a batch at a time."""
    for start in range(0, len(ids), _BATCH):
        connection.execute(
            outbox.update()
            .where(outbox.c.id.in_(ids[start : start + _BATCH]), outbox.c.status == old)
            .values(status=new, detail=detail)
        )


def _why(event_id: str, subscriber_id: int, catalog: Catalog, confirmed: set[int]) -> str:
    event = catalog.by_id.get(event_id)
    if event is None:
        return "event removed"
    if event.status == "cancelled":
        return "event cancelled"
    if subscriber_id not in confirmed:
        return "subscriber left"
    return "event moved or topics changed"


def _cancellation_notices(
    connection: sa.Connection, catalog: Catalog, confirmed: set[int], now: datetime
) -> int:
    """Plan one notice for each person who had a reminder for an event since cancelled."""
    cancelled = {e.id: e for e in catalog.events if e.status == "cancelled" and e.start > now}
    if not cancelled:
        return 0
    rows = connection.execute(
        sa.select(outbox.c.subscriber_id, outbox.c.event_id)
        .where(
            outbox.c.event_id.in_(sorted(cancelled)),
            outbox.c.status == "sent",
            outbox.c.kind.in_(["start", "deadline"]),
        )
        .distinct()
    )
    already = set(
        tuple(row)
        for row in connection.execute(
            sa.select(outbox.c.subscriber_id, outbox.c.event_id).where(
                outbox.c.event_id.in_(sorted(cancelled)), outbox.c.kind == "cancelled"
            )
        )
    )
    notices: list[tuple[Key, datetime]] = []
    for row in rows:
        if row.subscriber_id in confirmed and (row.subscriber_id, row.event_id) not in already:
            start = cancelled[row.event_id].start.astimezone(UTC)
            notices.append(((row.subscriber_id, row.event_id, "cancelled", 0, start), now))
    return _insert(connection, notices)
