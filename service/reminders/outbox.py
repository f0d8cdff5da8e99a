"""The outbox: claiming due reminders under a lease and recording what became of them.

A row goes planned -> sending (claimed by one worker until its lease ends) -> sent, or back
to planned with a later attempt (a temporary failure), or to failed, skipped or withdrawn. A
worker that dies leaves its rows in ``sending``; once their lease ends another worker takes
them again. On PostgreSQL several workers claim with ``FOR UPDATE SKIP LOCKED`` and never
take the same row; on SQLite one worker sends at a time (see ``worker``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..store.database import insert
from ..store.tables import outbox

LEASE = timedelta(minutes=5)
# Mails about a subscription rather than an event: a link to confirm, or to one's preferences.
ACCOUNT_KINDS = ("confirm", "manage")
# What makes a reminder unique: who, which event, which kind, how long before, before what.
KEY_COLUMNS = (
    outbox.c.subscriber_id,
    outbox.c.event_id,
    outbox.c.kind,
    outbox.c.offset_seconds,
    outbox.c.target_at,
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A reminder this worker holds until its lease ends."""

    id: int
    subscriber_id: int
    event_id: str
    kind: str
    offset_seconds: int
    target_at: datetime
    due_at: datetime
    attempts: int
    # The moment its mail reads as written (its Date, its "starts in"): set when it is claimed
    # from the plan, kept when it is taken over after a lease ran out, so a mail sent again
    # after a crash is the same mail, not one a minute newer.
    written_at: datetime
    resumed: bool  # taken over from a worker whose lease ran out


def triage(connection: sa.Connection, now: datetime) -> int:
    """Skip due reminders that can no longer help, and return how many.

    After downtime several reminders of one (subscriber, event, kind) may be due at once:
    only the latest is sent. A reminder whose target has passed is not sent at all.
    """
    later = outbox.alias("later")
    superseded = sa.exists().where(
        later.c.subscriber_id == outbox.c.subscriber_id,
        later.c.event_id == outbox.c.event_id,
        later.c.kind == outbox.c.kind,
        later.c.target_at == outbox.c.target_at,
        later.c.status.in_(["planned", "sending", "sent"]),
        later.c.due_at <= now,
        later.c.due_at > outbox.c.due_at,
    )
    due = sa.and_(outbox.c.status == "planned", outbox.c.due_at <= now)
    # Each change notice tells a change of its own: a later one supersedes none.
    supersedable = outbox.c.kind != "moved"
    passed = connection.execute(
        outbox.update()
        .where(due, outbox.c.target_at <= now)
        .values(status="skipped", detail="what it announced has passed")
    ).rowcount
    older = connection.execute(
        outbox.update()
        .where(due, supersedable, superseded)
        .values(status="skipped", detail="a later reminder of the same kind was due")
    ).rowcount
    return int(passed) + int(older)


def claim(
    connection: sa.Connection, worker: str, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[Claimed]:
    """Claim up to ``limit`` due reminders (or ones whose lease ran out), oldest first."""
    expired = sa.and_(outbox.c.status == "sending", outbox.c.lease_until < now)
    claimed: list[Claimed] = []
    # One condition at a time: each walks the (status, due_at) index in order, so a claim
    # reads only the rows it takes, however long the backlog.
    for claimable, resumed in ((expired, True), (_ready(now), False)):
        if len(claimed) < limit:
            claimed += _claim(
                connection, claimable, worker, now, now + lease, limit - len(claimed), resumed
            )
    return sorted(claimed, key=lambda c: (c.due_at, c.id))


def any_due(connection: sa.Connection, now: datetime) -> bool:
    """Tell whether a planned reminder (or account mail) is due at ``now``."""
    found = connection.execute(sa.select(outbox.c.id).where(_ready(now)).limit(1)).first()
    return found is not None


def _ready(now: datetime) -> sa.ColumnElement[bool]:
    """Planned, due, and not waiting for a retry: what a sender may take (index order)."""
    return sa.and_(
        outbox.c.status == "planned",
        outbox.c.due_at <= now,
        sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
    )


def _claim(
    connection: sa.Connection,
    claimable: sa.ColumnElement[bool],
    worker: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    resumed: bool,
) -> list[Claimed]:
    # A row taken over keeps the moment its first holder wrote it (rows from before that
    # was recorded have none: they read as written now).
    written_at = sa.func.coalesce(outbox.c.written_at, now) if resumed else now
    chosen = (
        sa.select(outbox.c.id)
        .where(claimable)
        .order_by(outbox.c.due_at, outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = connection.execute(
        outbox.update()
        .where(outbox.c.id.in_(chosen))
        .values(status="sending", lease_until=lease_until, claimed_by=worker, written_at=written_at)
        .returning(
            outbox.c.id,
            outbox.c.subscriber_id,
            outbox.c.event_id,
            outbox.c.kind,
            outbox.c.offset_seconds,
            outbox.c.target_at,
            outbox.c.due_at,
            outbox.c.attempts,
            outbox.c.written_at,
        )
    ).all()
    return [Claimed(**row._asdict(), resumed=resumed) for row in rows]


# A claimed row this worker still holds: its lease was not taken over by another worker.
_HELD = sa.and_(
    outbox.c.id == sa.bindparam("row_id"),
    outbox.c.status == "sending",
    outbox.c.claimed_by == sa.bindparam("worker"),
)


def finish(
    connection: sa.Connection, claimed: Claimed, worker: str, status: str, **values: object
) -> bool:
    """Record the outcome of a claimed reminder, if this worker still holds it."""
    update = outbox.update().where(_HELD).values(status=status, lease_until=None, **values)
    result = connection.execute(update, {"row_id": claimed.id, "worker": worker})
    return bool(result.rowcount)


def rewrite(connection: sa.Connection, worker: str, ids: list[int], now: datetime) -> None:
    """Make this worker's rows ``ids``, whose mails nobody has written yet, read as of ``now``."""
    connection.execute(
        outbox.update()
        .where(outbox.c.id.in_(ids), outbox.c.status == "sending", outbox.c.claimed_by == worker)
        .values(written_at=now)
    )


def renew(connection: sa.Connection, worker: str, ids: list[int], until: datetime) -> None:
    """Extend this worker's lease on the rows ``ids`` to ``until`` (never shorten one)."""
    connection.execute(
        outbox.update()
        .where(
            outbox.c.id.in_(ids),
            outbox.c.status == "sending",
            outbox.c.claimed_by == worker,
            outbox.c.lease_until < until,
        )
        .values(lease_until=until)
    )


# Made once: run right before every mail's data, a statement built anew (with the lease as
# a literal) was compiled and keyed again for each mail.
_HOLD = outbox.update().where(_HELD).values(lease_until=sa.bindparam("until"))


def hold(connection: sa.Connection, claimed: Claimed, worker: str, until: datetime) -> bool:
    """Keep ``claimed`` this worker's until ``until``; False if it is not this worker's now."""
    values = {"row_id": claimed.id, "worker": worker, "until": until}
    return bool(connection.execute(_HOLD, values).rowcount)


@dataclass(frozen=True, slots=True)
class Sent:
    """A claimed reminder handed to the mail server."""

    claimed: Claimed
    sent_at: datetime
    message_id: str


_RECORD_SENT = (
    outbox.update()
    .where(_HELD)
    .values(
        status="sent",
        lease_until=None,
        attempts=sa.bindparam("new_attempts"),
        sent_at=sa.bindparam("at"),
        message_id=sa.bindparam("mid"),
    )
)


def record_sent(connection: sa.Connection, sent: Sent, worker: str) -> bool:
    """Record a reminder as sent, if this worker still holds it."""
    values = {
        "row_id": sent.claimed.id,
        "worker": worker,
        "new_attempts": sent.claimed.attempts + 1,
        "at": sent.sent_at,
        "mid": sent.message_id,
    }
    return bool(connection.execute(_RECORD_SENT, values).rowcount)


def next_due(connection: sa.Connection) -> datetime | None:
    """Return when the next planned reminder (or retry, or lease end) comes due."""
    planned = sa.select(
        sa.func.min(sa.func.coalesce(outbox.c.next_attempt_at, outbox.c.due_at))
    ).where(outbox.c.status == "planned")
    leased = sa.select(sa.func.min(outbox.c.lease_until)).where(outbox.c.status == "sending")
    found = [m for m in (connection.execute(q).scalar() for q in (planned, leased)) if m]
    return min(found) if found else None


def counts(connection: sa.Connection, now: datetime) -> dict[str, int]:
    """Count reminders by status, and how many are overdue (due, not yet sent)."""
    rows = connection.execute(
        sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
    ).all()
    result = {status: int(count) for status, count in rows}
    result["overdue"] = int(
        connection.execute(
            sa.select(sa.func.count()).where(
                outbox.c.status.in_(["planned", "sending"]), outbox.c.due_at <= now
            )
        ).scalar_one()
    )
    return result


def queue_account_mail(
    connection: sa.Connection, subscriber_id: int, kind: str, now: datetime, valid_for: timedelta
) -> None:
    """Queue a confirmation or preferences mail, due now, useless after ``valid_for``."""
    assert kind in ACCOUNT_KINDS
    connection.execute(
        insert(connection, outbox)
        .values(
            subscriber_id=subscriber_id,
            event_id="",
            kind=kind,
            offset_seconds=0,
            target_at=now + valid_for,
            due_at=now,
            status="planned",
            attempts=0,
        )
        .on_conflict_do_nothing()
    )
