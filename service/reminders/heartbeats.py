"""Heartbeats: which reminder workers live, kept in the ``workers`` table.

Each worker writes its heartbeat every sweep and on a schedule of its own, so a long batch
never looks like a dead worker. A row not renewed for a while is a worker that is gone. On
SQLite only the oldest living worker sends; the others stand by. ``/healthz`` reads the
latest heartbeat to tell whether any worker is there.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

import sqlalchemy as sa

from ..store.database import insert
from ..store.tables import workers

NAME_LENGTH = 128  # the width of workers.name and outbox.claimed_by
LANE_LENGTH = 3  # what a claim adds to the name for each connection: "#" and up to 2 digits


def worker_name(host: str | None = None) -> str:
    """Name this process ``host:pid:random``, the host cut short to fit the database."""
    suffix = f":{os.getpid()}:{uuid.uuid4().hex[:6]}"
    room = NAME_LENGTH - len(suffix) - LANE_LENGTH
    return (host or socket.gethostname())[:room] + suffix


def beat(
    connection: sa.Connection, name: str, started_at: datetime, now: datetime, stale: datetime
) -> bool:
    """Record that ``name`` lives, forget workers silent since ``stale``; True if it sends.

    On SQLite one worker sends at a time: the oldest living one.
    """
    statement = insert(connection, workers).values(
        name=name, started_at=started_at, heartbeat_at=now
    )
    connection.execute(
        statement.on_conflict_do_update(index_elements=["name"], set_={"heartbeat_at": now})
    )
    connection.execute(workers.delete().where(workers.c.heartbeat_at < stale))
    if connection.dialect.name != "sqlite":
        return True
    older = connection.execute(
        sa.select(sa.func.count()).where(
            workers.c.name != name,
            sa.or_(
                workers.c.started_at < started_at,
                sa.and_(workers.c.started_at == started_at, workers.c.name < name),
            ),
        )
    ).scalar_one()
    if older:
        forget(connection, name)
    return older == 0


def forget(connection: sa.Connection, name: str) -> None:
    """Remove ``name``'s heartbeat: it stopped, or stands by."""
    connection.execute(workers.delete().where(workers.c.name == name))


def last_heartbeat(connection: sa.Connection) -> datetime | None:
    """Return the latest heartbeat of any worker, or None if none ever beat."""
    value: datetime | None = connection.execute(
        sa.select(sa.func.max(workers.c.heartbeat_at))
    ).scalar()
    return value
