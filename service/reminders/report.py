"""What ``calfeed reminders`` shows: what will be sent to whom and when, and what became of
what was due (sent, skipped, withdrawn, failed): reminders, cancellation and change notices."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..catalog import Catalog
from ..catalog.values import format_duration
from ..store.tables import outbox, subscribers
from . import digests, notices, planner
from . import subscribers as subscriber_store
from .outbox import ACCOUNT_KINDS, KEY_COLUMNS


@dataclass(frozen=True, slots=True)
class Line:
    """One reminder as an operator reads it."""

    at: datetime
    email: str
    event_id: str
    kind: str
    offset_seconds: int
    status: str
    detail: str | None = None

    def __str__(self) -> str:
        if self.kind in ACCOUNT_KINDS:
            what = "confirmation mail" if self.kind == "confirm" else "preferences mail"
            detail = f"  [{self.detail}]" if self.detail else ""
            return f"{self.at:%Y-%m-%d %H:%M} UTC  {self.email}  {what}{detail}"
        if self.kind == "digest":  # event_id holds the ISO week
            detail = f"  [{self.detail}]" if self.detail else ""
            return (
                f"{self.at:%Y-%m-%d %H:%M} UTC  {self.email}  weekly digest {self.event_id}{detail}"
            )
        if self.kind == "cancelled":
            what = "cancellation notice"
        elif self.kind == "new":
            what = "new-event mail"
        elif self.kind == notices.KIND:
            what = "change notice"
        else:
            before = format_duration(timedelta(seconds=self.offset_seconds))
            what = (
                f"{before} before {'registration closes' if self.kind == 'deadline' else 'start'}"
            )
        detail = f"  [{self.detail}]" if self.detail else ""
        return f"{self.at:%Y-%m-%d %H:%M} UTC  {self.email}  {self.event_id}  {what}{detail}"


def upcoming(engine: sa.Engine, catalog: Catalog, now: datetime) -> list[Line]:
    """Return every reminder still to come for the current catalog and subscribers."""
    with engine.begin() as connection:
        subscriber_store.sync_configured(
            connection, catalog.config.subscribers, now, catalog.config.reminders.defaults
        )
        people = {p.id: p for p in subscriber_store.confirmed(connection)}
        chosen = digests.upcoming(connection, now)
        done = set(
            tuple(row)
            for row in connection.execute(
                sa.select(*KEY_COLUMNS).where(outbox.c.status.not_in(["planned", "sending"]))
            )
        )
        # Change notices are planned as an edit settles, not ahead: the outbox has them.
        planned_notices = connection.execute(
            sa.select(
                outbox.c.due_at,
                subscribers.c.email,
                outbox.c.event_id,
                outbox.c.kind,
                outbox.c.offset_seconds,
            )
            .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
            .where(outbox.c.kind == notices.KIND, outbox.c.status.in_(["planned", "sending"]))
        ).all()
    wanted = planner.desired(catalog, people.values(), now, horizon=None)
    lines = [
        Line(max(due, now), people[key[0]].email, key[1], key[2], key[3], "planned")
        for key, due in wanted.items()
        if key not in done
    ]
    lines += [
        Line(at, people[who].email, what, kind, 0, "planned")
        for at, who, what, kind in chosen
        if who in people
    ]
    lines += [Line(max(row[0], now), *row[1:], "planned") for row in planned_notices]
    return sorted(lines, key=lambda line: (line.at, line.email, line.event_id))


def called_off(engine: sa.Engine, catalog: Catalog, now: datetime) -> list[Line]:
    """Return the reminders that were to come but no longer will, and why.

    Reminders enter the outbox only shortly before they are due, so those of a person who
    left or of an event cancelled before then are in no table: without this they would
    just vanish from what ``upcoming`` shows.
    """
    with engine.connect() as connection:
        left = connection.execute(
            sa.select(subscribers.c.id).where(subscribers.c.status.in_(["unsubscribed", "removed"]))
        ).scalars()
        staying = subscriber_store.confirmed(connection)
        people = {**subscriber_store.get_many(connection, set(left)), **{p.id: p for p in staying}}
        stored = set(tuple(row) for row in connection.execute(sa.select(*KEY_COLUMNS)))
    uncancelled = replace(
        catalog, events=tuple(replace(e, status="confirmed") for e in catalog.events)
    )
    wanted = planner.desired(catalog, staying, now, horizon=None)
    lines = []
    for key, due in planner.desired(uncancelled, people.values(), now, horizon=None).items():
        if key in wanted or key in stored:
            continue
        person = people[key[0]]
        why = "subscriber left" if person.status != "confirmed" else "event cancelled"
        lines.append(Line(due, person.email, key[1], key[2], key[3], "withdrawn", why))
    return sorted(lines, key=lambda line: (line.at, line.email, line.event_id))


def history(
    engine: sa.Engine, statuses: list[str], limit: int, *, retrying: bool = False
) -> list[Line]:
    """Return the latest reminders in ``statuses``, newest first.

    ``retrying`` keeps only those a failed attempt left waiting (they carry its reason).
    """
    moment = sa.func.coalesce(outbox.c.sent_at, outbox.c.due_at)
    query = (
        sa.select(
            moment.label("at"),
            subscribers.c.email,
            outbox.c.event_id,
            outbox.c.kind,
            outbox.c.offset_seconds,
            outbox.c.status,
            outbox.c.detail,
        )
        .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
        .where(outbox.c.status.in_(statuses))
        .where(outbox.c.detail.is_not(None) if retrying else sa.true())
        .order_by(moment.desc(), outbox.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [Line(*row) for row in connection.execute(query)]
