"""Publications: when each event was first published, and the start it had then.

Revisions keep only a digest of each entry, which says that an event changed but not how.
Pages and feeds also want to know whether an event moved (schema.org's EventRescheduled
with its previousStartDate) and since when it is announced (a feed item's publication
date). So the first time an event id is published, its start and the moment are kept, and
never updated: an event whose start differs from its first one has been rescheduled. Rows
are never deleted, like revisions, so an id that comes back keeps its history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..clock import Clock, utc_now
from .database import insert
from .tables import publications

_BATCH = 500


@dataclass(frozen=True, slots=True)
class Publication:
    """The start an event was first published with, and when that was."""

    first_start: datetime
    published_at: datetime


class PublicationStore:
    """First publications of events, by event id."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def record(self, starts: Mapping[str, datetime]) -> dict[str, Publication]:
        """Return the first publication of each event, recording ``starts`` for new ones."""
        found: dict[str, Publication] = {}
        keys = list(starts)
        with self.engine.begin() as connection:
            for begin in range(0, len(keys), _BATCH):
                batch = keys[begin : begin + _BATCH]
                stored = _read(connection, batch)
                new = [key for key in batch if key not in stored]
                if new:
                    now = self.clock()
                    rows = [
                        {"event_id": key, "first_start": starts[key], "published_at": now}
                        for key in new
                    ]
                    statement = insert(connection, publications).values(rows)
                    connection.execute(
                        statement.on_conflict_do_nothing(index_elements=["event_id"])
                    )
                    stored.update(_read(connection, new))  # another writer may have won
                found.update(stored)
        return found


def _read(connection: sa.Connection, keys: list[str]) -> dict[str, Publication]:
    rows = connection.execute(sa.select(publications).where(publications.c.event_id.in_(keys)))
    return {row.event_id: Publication(row.first_start, row.published_at) for row in rows}
