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
from ..tables import outbox, subscribers


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
    row = _row(connection, email)
    if row is None:
        return None
    mails = connection.execute(
        sa.select(outbox).where(outbox.c.subscriber_id == row.id).order_by(outbox.c.due_at)
    )
    person = _person(row._mapping)
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
    """Delete everything stored about ``email``; None if nothing was."""
    row = _row(connection, email)
    if row is None:
        return None
    deleted = connection.execute(outbox.delete().where(outbox.c.subscriber_id == row.id))
    connection.execute(subscribers.delete().where(subscribers.c.id == row.id))
    mails = 0
    for key, _ in _maildir_mails(config, row.email):
        _maildir(config).remove(key)
        mails += 1
    return Erased(deleted.rowcount, mails)


def _row(connection: sa.Connection, email: str) -> sa.Row[Any] | None:
    query = sa.select(subscribers).where(subscribers.c.email == email.strip().lower())
    return connection.execute(query).first()


def _person(row: Any) -> dict[str, Any]:
    person = {key: _plain(value) for key, value in row.items() if key != "id"}
    person["topics"] = row["topics"].split()
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
