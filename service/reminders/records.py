"""Everything calfeed stores about one person, to show, hand over or erase on request.

An organisation must answer a person's request to see what it holds about them (access,
portability) and to erase it. About a subscriber calfeed holds their row in ``subscribers``
(address, topics, zone, status and its dates), their rows in ``outbox`` (every reminder and
account mail planned, sent, skipped or failed, with the server's reply) and, with the
``maildir`` transport, the mails themselves in the Maildir. Nothing else names them: logs
and ``/healthz`` do not.
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..catalog import Config
from ..catalog.values import format_duration
from ..store.tables import outbox, subscribers
from .subscribers import normalise, stored_alarms


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure removed."""

    outbox_rows: int
    mails: int


def everyone(connection: sa.Connection) -> list[dict[str, Any]]:
    """Return every stored subscriber, by address, with how many mails they were sent."""
    sent = (
        sa.select(sa.func.count())
        .where(outbox.c.subscriber_id == subscribers.c.id, outbox.c.status == "sent")
        .scalar_subquery()
    )
    query = sa.select(subscribers, sent.label("sent")).order_by(subscribers.c.email)
    return [_person(row._mapping) for row in connection.execute(query)]


def about(connection: sa.Connection, config: Config, email: str) -> dict[str, Any] | None:
    """Return everything stored about ``email`` (None if nothing), ready for JSON."""
    rows = _rows(connection, email)
    if not rows:
        return None
    row = rows[0]
    ids = [found.id for found in rows]
    mails = connection.execute(
        sa.select(outbox).where(outbox.c.subscriber_id.in_(ids)).order_by(outbox.c.due_at)
    )
    person = _person(row._mapping)
    # Other spellings of the address, merged into this one, with their own history.
    person["merged"] = [_person(other._mapping) for other in rows[1:]]
    person["mails"] = [
        {key: _plain(value) for key, value in mail._mapping.items() if key != "subscriber_id"}
        for mail in mails
    ]
    person["maildir"] = [
        {"message_id": m["Message-ID"], "date": m["Date"], "subject": m["Subject"]}
        for _, m in _maildir_mails(config, row.email)
    ]
    return person


def erase(connection: sa.Connection, config: Config, email: str) -> Erased | None:
    """Delete everything stored about ``email``, every spelling of it; None if nothing was."""
    rows = _rows(connection, email)
    if not rows:
        return None
    ids = [row.id for row in rows]
    deleted = connection.execute(outbox.delete().where(outbox.c.subscriber_id.in_(ids)))
    connection.execute(subscribers.delete().where(subscribers.c.id.in_(ids)))
    mails = 0
    for row in rows:
        for key, _ in _maildir_mails(config, row.email):
            _maildir(config).remove(key)
            mails += 1
    return Erased(deleted.rowcount, mails)


def _rows(connection: sa.Connection, email: str) -> list[sa.Row[Any]]:
    """Return the stored row of ``email``, then the rows of its spellings merged into it."""
    try:
        address = normalise(email.strip())
    except ValueError:
        address = email.strip().lower()
    rows = connection.execute(sa.select(subscribers).where(subscribers.c.email == address)).all()
    merged = connection.execute(sa.select(subscribers).where(subscribers.c.status == "merged"))
    return [*rows, *(row for row in merged if _spelling_of(row.email, address))]


def _spelling_of(stored: str, address: str) -> bool:
    try:
        return normalise(stored) == address
    except ValueError:
        return False


def _person(row: Any) -> dict[str, Any]:
    person = {key: _plain(value) for key, value in row.items() if key != "id"}
    person["topics"] = row["topics"].split()
    # The personal feed's alarms, before each start, as config.yaml writes durations.
    person["alarms"] = [format_duration(lead) for lead in stored_alarms(row["alarms"])]
    return person


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _maildir(config: Config) -> mailbox.Maildir:
    return mailbox.Maildir(config.mail.maildir, create=False)


def _maildir_mails(config: Config, email: str) -> list[tuple[str, mailbox.MaildirMessage]]:
    """Return the mails in the Maildir addressed to ``email``, by key."""
    if not Path(config.mail.maildir, "cur").is_dir():  # kept after a move to SMTP too
        return []
    found = []
    for key, message in _maildir(config).iteritems():
        addresses = {address.lower() for _, address in getaddresses(message.get_all("To", []))}
        if email in addresses:
            found.append((key, message))
    return found
