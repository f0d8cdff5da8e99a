"""Subscribers in the database: the ones config.yaml lists, and those who signed up.

Config subscribers are confirmed by definition and synced on every planning run; a person
who unsubscribed stays unsubscribed even while config.yaml still lists them, and one removed
from config.yaml gets nothing more. A subscription that ends and starts again (unsubscribed,
then signed up; removed, then listed again) gets the next generation, and the links made for
the old one (which name its generation) stop working.

An address is stored in one spelling (``normalise``), so that ``Alice@EXAMPLE.org`` and a
spelling in fullwidth letters are one subscriber, mailed once and limited once. Rows that
were stored apart before are merged into one (migration 0004); the ones merged away keep
their spelling and history under the status ``merged``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import email_validator
import sqlalchemy as sa

from ..catalog.models import Choices, Digest, ListedSubscriber
from ..store.database import insert
from ..store.tables import outbox, subscribers
from .outbox import ACCOUNT_KINDS

# What a subscriber gets when nobody said otherwise: reminders before each event, no more.
DEFAULT_CHOICES = Choices()
# A subscription that ends and starts again gets the next generation.
_NEXT = subscribers.c.generation + 1


def normalise(address: str) -> str:
    """Return the one spelling stored for ``address``: domain IDNA-normalised, lower case.

    The domain goes through IDNA (UTS 46) as email-validator does it, which folds case and
    fullwidth forms; the local part is NFC-normalised and, as always here, lower-cased.
    """
    try:
        valid = email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError as err:
        raise ValueError(f"{address!r} is not a valid email address: {err}") from err
    return valid.normalized.lower()


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A subscriber as stored."""

    id: int
    email: str
    timezone: ZoneInfo
    topics: frozenset[str]
    status: str
    confirmed_at: datetime | None
    generation: int  # of the subscription; links name it and die when it ends
    alarms: tuple[timedelta, ...] = ()  # before each start, longest first: the personal feed's
    choices: Choices = DEFAULT_CHOICES  # what mail they get
    digest_since: datetime | None = None  # digests due after this are theirs
    new_events_since: datetime | None = None  # events first published after this are news
    change_notices: bool = True  # a mail when an event they follow moves (``notices``)
    language: str | None = None  # of their mails; None: the site's own

    @property
    def per_event(self) -> bool:
        return self.choices.per_event


def sync_configured(
    connection: sa.Connection,
    listed: Iterable[ListedSubscriber],
    now: datetime,
    choices: Choices = DEFAULT_CHOICES,
) -> None:
    """Bring the config subscribers in the database in line with config.yaml.

    They get the choices of ``reminders.defaults`` (``choices``), as they get its topics.
    """
    by_email = {normalise(s.email): s for s in listed}
    rows = connection.execute(
        sa.select(
            subscribers.c.id,
            subscribers.c.email,
            subscribers.c.status,
            subscribers.c.source,
            subscribers.c.timezone,
            subscribers.c.topics,
            *_CHOICE_COLUMNS,
            subscribers.c.language,
        )
    ).all()
    stored = {row.email: row for row in rows}
    new = []
    for email, sub in by_email.items():
        values = {
            "timezone": sub.timezone.key,
            "topics": " ".join(sub.topics),
            "language": sub.language,
        }
        row = stored.get(email)
        if row is None:
            chosen = choice_values(None, choices, now)
            new.append(
                {"email": email, "status": "confirmed", "source": "config", **values, **chosen}
            )
        elif row.source != "config":
            continue  # a self-service subscriber of that address keeps their own settings
        elif row.status == "removed":
            connection.execute(
                subscribers.update()
                .where(subscribers.c.id == row.id)
                .values(
                    status="confirmed",
                    confirmed_at=now,
                    generation=_NEXT,
                    **values,
                    **choice_values(None, choices, now),
                )
            )
        elif row.status == "confirmed" and (
            (row.timezone, row.topics, row.language) != tuple(values.values())
            or _choices(row) != choices
        ):
            connection.execute(
                subscribers.update()
                .where(subscribers.c.id == row.id)
                .values(**values, **choice_values(row, choices, now))
            )
    if new:
        # Another worker may be inserting the same people right now: the first one wins.
        connection.execute(
            insert(connection, subscribers).on_conflict_do_nothing(),
            [{**row, "created_at": now, "confirmed_at": now} for row in new],
        )
    gone = [
        row.id
        for email, row in stored.items()
        if row.source == "config" and row.status == "confirmed" and email not in by_email
    ]
    if gone:
        connection.execute(
            subscribers.update().where(subscribers.c.id.in_(gone)).values(status="removed")
        )


def confirmed(connection: sa.Connection) -> list[Subscriber]:
    """Return every confirmed subscriber."""
    rows = connection.execute(sa.select(subscribers).where(subscribers.c.status == "confirmed"))
    return [_subscriber(row) for row in rows]


def get(connection: sa.Connection, subscriber_id: int) -> Subscriber | None:
    """Return one subscriber, or None."""
    row = connection.execute(
        sa.select(subscribers).where(subscribers.c.id == subscriber_id)
    ).first()
    return _subscriber(row) if row else None


_STATUS = sa.select(subscribers.c.status).where(subscribers.c.id == sa.bindparam("id"))


def status(connection: sa.Connection, subscriber_id: int) -> str | None:
    """Return a subscriber's status as stored right now, or None if there is no such one."""
    found: str | None = connection.execute(_STATUS, {"id": subscriber_id}).scalar()
    return found


def get_many(connection: sa.Connection, ids: set[int]) -> dict[int, Subscriber]:
    """Return the subscribers with these ids, by id."""
    if not ids:
        return {}
    rows = connection.execute(sa.select(subscribers).where(subscribers.c.id.in_(sorted(ids))))
    return {row.id: _subscriber(row) for row in rows}


def unsubscribe(
    connection: sa.Connection, subscriber_id: int, now: datetime, generation: int | None = None
) -> bool:
    """Unsubscribe at once and withdraw what was queued; False if nobody was subscribed.

    With ``generation``, only that subscription ends: a link from an earlier one does nothing.
    A link to a spelling merged into another ends the subscription it was merged into.
    """
    merged = connection.execute(
        sa.select(subscribers.c.email).where(
            subscribers.c.id == subscriber_id, subscribers.c.status == "merged"
        )
    ).scalar()
    if merged is not None:
        into = connection.execute(
            sa.select(subscribers.c.id).where(subscribers.c.email == normalise(merged))
        ).scalar()
        return into is not None and unsubscribe(connection, into, now)
    result = connection.execute(
        subscribers.update()
        .where(
            subscribers.c.id == subscriber_id,
            subscribers.c.status != "unsubscribed",
            _of_generation(generation),
        )
        .values(status="unsubscribed", unsubscribed_at=now)
    )
    if not result.rowcount:
        return False
    connection.execute(
        outbox.update()
        .where(outbox.c.subscriber_id == subscriber_id, outbox.c.status == "planned")
        .values(status="withdrawn", detail="subscriber left")
    )
    return True


def _of_generation(generation: int | None) -> sa.ColumnElement[bool]:
    """Match the subscription of ``generation``, or any when it is None."""
    return sa.true() if generation is None else subscribers.c.generation == generation


def _subscriber(row: sa.Row[tuple[object, ...]]) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        timezone=ZoneInfo(row.timezone),
        topics=frozenset(row.topics.split()),
        status=row.status,
        confirmed_at=row.confirmed_at,
        generation=row.generation,
        alarms=stored_alarms(row.alarms),
        choices=_choices(row),
        digest_since=row.digest_since,
        new_events_since=row.new_events_since,
        change_notices=bool(row.change_notices),
        language=row.language,
    )


# The columns that say what mail a subscriber chose (migration 0010).
_CHOICE_COLUMNS = (
    subscribers.c.per_event,
    subscribers.c.digest_weekday,
    subscribers.c.digest_hour,
    subscribers.c.digest_since,
    subscribers.c.new_events_since,
)


def _choices(row: Any) -> Choices:
    """Return the choices a row stores."""
    digest = None
    if row.digest_weekday is not None:
        digest = Digest(row.digest_weekday, row.digest_hour)
    return Choices(bool(row.per_event), digest, row.new_events_since is not None)


def choice_values(row: Any | None, choices: Choices, now: datetime) -> dict[str, object]:
    """Return the columns that store ``choices`` over what ``row`` stored (None: nothing).

    A digest chosen anew, or at another day or hour, counts from ``now``, as do new-event
    mails turned on: nothing due or published before then is sent for them.
    """
    digest, news = choices.digest, choices.new_events
    digest_since: datetime | None = now if digest else None
    news_since: datetime | None = now if news else None
    if row is not None:
        before = _choices(row)
        if digest is not None and before.digest == digest:
            digest_since = row.digest_since
        if news and before.new_events:
            news_since = row.new_events_since
    return {
        "per_event": choices.per_event,
        "digest_weekday": digest.weekday if digest else None,
        "digest_hour": digest.hour if digest else None,
        "digest_since": digest_since,
        "new_events_since": news_since,
    }


def stored_alarms(stored: str) -> tuple[timedelta, ...]:
    """Return the alarms as the ``alarms`` column keeps them (seconds), longest first."""
    return tuple(sorted((timedelta(seconds=int(s)) for s in stored.split()), reverse=True))


def request(
    connection: sa.Connection,
    email: str,
    topics: Iterable[str],
    zone: ZoneInfo,
    now: datetime,
    limits: Iterable[tuple[int, timedelta]] = (),
    choices: Choices = DEFAULT_CHOICES,
    language: str | None = None,
) -> tuple[Subscriber, str | None]:
    """Record a sign-up; return the subscriber and the account mail it calls for.

    A new, pending or departed address becomes pending with the topics and zone asked for
    and gets a ``confirm`` mail. A confirmed address is left as it is and gets a ``manage``
    mail: changing it takes the link that only its owner receives. An address that had
    ``n`` account mails queued within ``window`` already, for any ``(n, window)`` of
    ``limits``, is left as it is and gets none (None). A new subscription starts with the
    mail ``choices`` of config.yaml's ``reminders.defaults``. ``language`` is that of the
    page the sign-up was made on: its mails are written in it.
    """
    email = normalise(email)
    values: dict[str, object] = {
        "timezone": zone.key,
        "topics": " ".join(sorted(set(topics))),
        "language": language,
    }
    values.update(choice_values(None, choices, now))
    # Write first: from here the row (PostgreSQL) or the database (SQLite) is held, so a
    # sign-up for the same address in another process waits, then counts this one's mail.
    # RETURNING says whether a row was inserted: with psycopg the rowcount of this is -1.
    new = connection.execute(
        insert(connection, subscribers)
        .values(email=email, status="pending", source="web", created_at=now, **values)
        .on_conflict_do_nothing()
        .returning(subscribers.c.id)
    ).first()
    query = sa.select(subscribers).where(subscribers.c.email == email)
    row = connection.execute(query.with_for_update()).one()
    if new:
        return _subscriber(row), "confirm"
    if any(_account_mails(connection, row.id, now - window) >= n for n, window in limits):
        return _subscriber(row), None
    if row.status == "confirmed":
        return _subscriber(row), "manage"
    # A departed address starts a new subscription: links of the old one stay dead.
    generation = row.generation if row.status == "pending" else _NEXT
    connection.execute(
        subscribers.update()
        .where(subscribers.c.id == row.id)
        .values(status="pending", unsubscribed_at=None, generation=generation, **values)
    )
    return _subscriber(connection.execute(query).one()), "confirm"


def _account_mails(connection: sa.Connection, subscriber_id: int, since: datetime) -> int:
    """Count the account mails queued for a subscriber since ``since``."""
    count: int = connection.execute(
        sa.select(sa.func.count()).where(
            outbox.c.subscriber_id == subscriber_id,
            outbox.c.kind.in_(ACCOUNT_KINDS),
            outbox.c.due_at > since,
        )
    ).scalar_one()
    return count


def confirm(
    connection: sa.Connection, subscriber_id: int, now: datetime, generation: int | None = None
) -> Subscriber | None:
    """Confirm a pending subscription (a confirmed one stays as is); None if there is none.

    With ``generation``, only that subscription: a link from an earlier one confirms nothing.
    """
    connection.execute(
        subscribers.update()
        .where(subscribers.c.id == subscriber_id, subscribers.c.status == "pending")
        .where(_of_generation(generation))
        .values(status="confirmed", confirmed_at=now)
    )
    found = get(connection, subscriber_id)
    if found is None or found.status != "confirmed" or generation not in (None, found.generation):
        return None
    return found


def update(
    connection: sa.Connection,
    subscriber_id: int,
    topics: Iterable[str],
    zone: ZoneInfo,
    alarms: Iterable[timedelta] | None = None,
    choices: tuple[Choices, datetime] | None = None,
    change_notices: bool | None = None,
    language: str | None = None,
) -> None:
    """Change a confirmed subscriber's topics and zone; alarms, notices, language when given.

    ``choices``: the mail they chose now, and when that is.
    """
    values: dict[str, object] = {"timezone": zone.key, "topics": " ".join(sorted(set(topics)))}
    if language is not None:
        values["language"] = language
    if alarms is not None:
        seconds = sorted({int(lead.total_seconds()) for lead in alarms}, reverse=True)
        values["alarms"] = " ".join(map(str, seconds))
    if choices is not None:
        row = connection.execute(
            sa.select(*_CHOICE_COLUMNS).where(subscribers.c.id == subscriber_id)
        ).first()
        values.update(choice_values(row, *choices))
    if change_notices is not None:
        values["change_notices"] = change_notices
    connection.execute(
        subscribers.update()
        .where(subscribers.c.id == subscriber_id, subscribers.c.status == "confirmed")
        .values(**values)
    )
